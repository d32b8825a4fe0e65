// Runs a daemon command from the CLI: --dry-run prints the plan; a plan that needs confirmation
// is shown and confirmed on a TTY (or with --yes) and committed against the fingerprint the
// user saw, so a plan that went stale in between is refused rather than redone.
import { createInterface } from 'node:readline/promises';
import { SdError } from '../errors.js';
import type { CliContext } from './context.js';
import type { CommandOutcome } from '../core.js';
import type { Plan } from '../ops/define.js';
import type { CommandInput, CommandName, CommandResult } from '../ops/registry.js';

/** A command's outcome as the CLI gets it: the result typed from the command's definition. */
export type Outcome<N extends CommandName = CommandName> = CommandOutcome<CommandResult<N>>;

export function describePlan(ctx: CliContext, plan: Plan): string {
  const p = ctx.paint;
  const lines = [p.bold(plan.summary)];
  for (const c of plan.changes)
    lines.push(`  ${p.cyan(c.op.padEnd(7))} ${c.target}${c.detail ? p.dim(`  ${c.detail}`) : ''}`);
  for (const n of plan.notes ?? []) lines.push(`  ${p.dim('note')}    ${n}`);
  for (const w of plan.warnings ?? []) lines.push(`  ${p.yellow('warning')} ${w}`);
  for (const c of plan.conflicts ?? []) lines.push(`  ${p.red('conflict')} ${c.message}`);
  return lines.join('\n');
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

/** Returns the outcome; prints it unless `quiet`. */
export async function runCommand<N extends CommandName>(
  ctx: CliContext,
  name: N,
  input: CommandInput<N>,
  render?: (o: Outcome<N>) => string,
): Promise<Outcome<N>> {
  if (ctx.flags.dryRun) {
    const o = await ctx.command(name, input, { dryRun: true });
    ctx.print(o, () => `${describePlan(ctx, o.plan)}\n${ctx.paint.dim('(dry run: nothing was changed)')}`);
    return o;
  }
  let o: Outcome<N>;
  try {
    o = await ctx.command(name, input, { yes: !!ctx.flags.yes });
  } catch (e) {
    if (!(e instanceof SdError) || e.code !== 'E_CONFIRMATION_REQUIRED' || !process.stdin.isTTY || ctx.json) throw e;
    const plan = ctx.safe((e.details as { plan: Plan }).plan);
    ctx.err(`${describePlan(ctx, plan)}\n`);
    if (!(await confirm(plan.confirm ?? 'Proceed?')))
      throw new SdError('E_CANCELLED', 'cancelled; nothing was changed');
    o = await ctx.command(name, input, { yes: true, fingerprint: plan.fingerprint });
  }
  ctx.print(o, () => {
    const p = ctx.paint;
    const head = render ? render(o) : o.plan.summary;
    if (o.verify?.ok) return `${p.green('✓')} ${head} ${p.dim('(verified)')}`;
    const failed = (o.verify?.checks ?? [])
      .filter((c) => !c.ok)
      .map((c) => `  ${p.red('✗')} ${c.what}${c.detail ? `: ${c.detail}` : ''}`);
    return [`${p.red('!')} ${head}: verify FAILED`, ...failed].join('\n');
  });
  if (o.verify && !o.verify.ok) process.exitCode = 1;
  return o;
}
