// sd cp --device (pull), sd send, sd inbox: the commit of a pull is a job; the CLI follows it
// (a progress bar in bytes on a TTY, `sd job watch` elsewhere) and prints the verified outcome.
// Ctrl-C stops following, not the transfer (`sd job pause|cancel ID`).
import type { Command } from 'commander';
import { SdError } from '../errors.js';
import { codeOf } from '../error-codes.js';
import { streamEvents, type CliContext } from './context.js';
import { bytes, duration, shortId, table, time } from './format.js';
import { ctxOf } from './program.js';
import { devicePaths } from './paths.js';
import { runCommand } from './run-command.js';

const FINAL = new Set(['completed', 'failed', 'cancelled', 'paused']);

/** Follows a transfer job to its end; exit 1 (and the job's error code) unless it completed. */
export async function waitForTransfer(ctx: CliContext, id: string, outcome: unknown): Promise<void> {
  const rpc = await ctx.rpc();
  const tty = !!process.stderr.isTTY && !ctx.json;
  const cliProgress = tty ? (await import('cli-progress')).default : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        {
          format: (_o: object, p: { value: number; total: number }, payload: { rate: number }) =>
            ` receiving ${bytes(p.value)} of ${bytes(p.total)}  ${bytes(payload.rate)}/s${
              payload.rate > 0 && p.total > p.value
                ? `  ETA ${duration(((p.total - p.value) / payload.rate) * 1000)}`
                : ''
            }`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let started = false;
  const end = await new Promise<string>((resolve) => {
    const s = streamEvents(rpc, { kinds: ['job'], library: ctx.flags.library }, (x) => {
      if (x.job !== id) return;
      if (bar && x.total) {
        if (!started) bar.start(x.total, x.done ?? 0, { rate: 0 });
        started = true;
        bar.update(x.done ?? 0, { rate: x.rate ?? 0 });
      }
      if (FINAL.has(x.state)) {
        s.cancel();
        resolve(x.state);
      }
    });
    const stop = (): void => {
      s.cancel();
      resolve('following stopped');
    };
    process.once('SIGINT', stop);
    void ctx.query('job.info', { ref: id }).then((j) => {
      if (FINAL.has(j.state)) {
        s.cancel();
        resolve(j.state);
      }
    });
  });
  if (started) bar!.stop();
  const info = await ctx.query('job.info', {
    ref: id,
  });
  ctx.print({ outcome, job: info }, () => {
    const p = ctx.paint;
    if (info.state === 'completed')
      return `${p.green('✓')} ${bytes(info.done)} in ${(info.runMs / 1000).toFixed(1)} s ${p.dim('(verified: BLAKE3 of every file)')}`;
    if (end === 'following stopped')
      return `the transfer goes on in the background: \`sd job watch\`, \`sd job pause|cancel ${id.slice(0, 8)}\``;
    return `${p.red('!')} transfer ${id.slice(0, 8)} ${info.state}${info.message ? `: ${info.message}` : ''}`;
  });
  if (info.state !== 'completed' && end !== 'following stopped') {
    const code = /^(E_[A-Z_]+): /.exec(info.message ?? '')?.[1];
    if (info.state === 'failed')
      throw new SdError(
        codeOf(code, 'E_JOB_FAILED'),
        (info.message ?? 'the transfer failed').replace(/^E_[A-Z_]+: /, ''),
      );
    process.exitCode = 1;
  }
}

/** `sd cp --device D SRC... DEST`. */
export async function pullCommand(
  ctx: CliContext,
  paths: string[],
  o: { device: string; onConflict?: string; wait: boolean },
  dest: string,
): Promise<void> {
  const sources = await devicePaths(ctx, paths, o.device);
  const out = await runCommand(ctx, 'transfer.pull', { device: o.device, sources, dest, onConflict: o.onConflict });
  const job = out.result?.job;
  if (out.committed && job && o.wait) await waitForTransfer(ctx, job, out);
}

export function transferCommands(program: Command): void {
  program
    .command('send <paths...>')
    .description("offer files or folders to another device's inbox (it fetches them itself)")
    .requiredOption('--device <device>', 'the device to send to')
    .action(async (paths: string[], o: { device: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      await runCommand(
        ctx,
        'transfer.send',
        { device: o.device, paths: await devicePaths(ctx, paths, undefined) },
        (x) => {
          const r = x.result!;
          return r.state === 'queued'
            ? `offered to "${r.device}": drop ${shortId(r.drop)} waits there for \`sd inbox accept ${shortId(r.drop)}\``
            : `sent to "${r.device}": it is fetching drop ${shortId(r.drop)} into its inbox`;
        },
      );
    });
  const inbox = program.command('inbox').description('drops other devices sent to this one (`sd send`)');
  inbox
    .command('list')
    .description('drops offered to this device, newest first')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = await ctx.query('inbox.list');
      ctx.print(r, () =>
        [
          r.inbox
            ? `inbox ${r.inbox.path} (accepts ${r.inbox.accept === 'ask' ? 'after `sd inbox accept`' : 'from members at once'})`
            : 'no inbox on this device (`sd location add PATH --inbox`)',
          r.drops.length
            ? table(
                ['ID', 'FROM', 'FILES', 'SIZE', 'STATE', 'OFFERED'],
                r.drops.map((d) => [shortId(d.id), d.from, d.files, bytes(d.bytes), d.state, time(d.createdAt)]),
                ctx.style,
              )
            : 'no drops',
        ].join('\n'),
      );
    });
  inbox
    .command('accept <id>')
    .description('fetch a drop into the inbox')
    .option('--no-wait', 'return once the transfer is queued')
    .action(async (ref: string, o: { wait: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const out = await runCommand(ctx, 'inbox.accept', { ref });
      const job = out.result?.job;
      if (out.committed && job && o.wait) await waitForTransfer(ctx, job, out);
    });
  inbox
    .command('reject <id>')
    .description('refuse a drop (nothing is fetched)')
    .action(async (ref: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'inbox.reject', { ref });
    });
}
