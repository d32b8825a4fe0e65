// sd log, sd log verify, sd replay --check, sd events.
import type { Command } from 'commander';
import { writeSync } from 'node:fs';
import { SdError } from '../errors.js';
import { ctxOf } from './program.js';
import { streamEvents } from './context.js';
import type { BusMessage } from '../bus.js';
import { shortId, table, time } from './format.js';

/** `sd replay --rebuild`: no daemon; a progress line on a TTY. */
async function rebuild(ctx: ReturnType<typeof ctxOf>): Promise<void> {
  const { rebuildLibraries } = await import('../ops/doctor/rebuild.js');
  const tty = !!process.stderr.isTTY && !ctx.json;
  let shown = 0;
  const reports = await rebuildLibraries(ctx.dataDir, ctx.flags.library, (name, done, total) => {
    const now = Date.now();
    if (!tty || (now - shown < 100 && done < total)) return;
    shown = now;
    const pct = total ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    const bar = '█'.repeat(Math.floor(pct / 4)).padEnd(25, '░');
    writeSync(2, `\r rebuilding ${name} |${bar}| ${done}/${total} events`);
  });
  if (tty) writeSync(2, '\r\x1b[K');
  ctx.print(reports, () =>
    reports
      .map(
        (r) =>
          `${ctx.paint.green('✓')} rebuilt "${r.name}" from ${r.events} events in ${Math.round(r.ms)} ms (checksum ${r.before} -> ${r.after})`,
      )
      .join('\n'),
  );
}

export function logCommands(program: Command): void {
  const log = program
    .command('log')
    .description('the audit history: who did what, when, and whether it verified')
    .option('--device <device>', 'only events of this device (id, prefix or name)')
    .option('--type <type>', 'only events of this type (e.g. library.renamed, or a prefix like library)')
    .option('--since <iso>', 'only events at or after this time (ISO 8601)')
    .option('--limit <n>', 'at most N events (newest first)', '50')
    .action(async (o: { device?: string; type?: string; since?: string; limit: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit <= 0)
        throw new SdError('E_BAD_INPUT', `--limit must be a positive integer, not "${o.limit}"`);
      const rows = await ctx.query('log.list', { device: o.device, type: o.type, since: o.since, limit });
      const p = ctx.paint;
      ctx.print(rows, () =>
        rows.length === 0
          ? 'no events match'
          : table(
              ['TIME', 'DEVICE', 'SEQ', 'TYPE', 'VERIFY', 'SUMMARY'],
              rows.map((r) => [
                `${time(r.time)}${r.future ? ` ${p.yellow('(future)')}` : ''}`,
                r.deviceName ?? shortId(r.device),
                r.seq,
                r.type,
                r.verified === null ? '' : r.verified ? p.green('ok') : p.red('FAILED'),
                r.refused ? `${p.red(`refused ${r.refused.code}:`)} ${r.refused.reason} (${r.summary})` : r.summary,
              ]),
              ctx.style,
            ),
      );
    });
  log
    .command('verify')
    .description('check every signature and hash chain of the log')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = await ctx.query('log.verify');
      const p = ctx.paint;
      ctx.print(r, () =>
        r.ok
          ? `${p.green('✓')} ${r.events} events from ${r.devices} device(s): every signature and hash chain verified (${Math.round(r.ms)} ms)`
          : `${p.red('✗')} ${r.bad} of ${r.events} events failed verification; first bad event: ${r.firstBad!.dev}#${r.firstBad!.seq} ${r.firstBad!.code}: ${r.firstBad!.reason}`,
      );
      if (!r.ok) process.exitCode = 1;
    });

  program
    .command('replay')
    .description('rebuild the projections from the log')
    .option('--check', 'rebuild into a fresh database and compare checksums with the live projections')
    .option('--rebuild', 'rebuild every projection in place from the log (stop the daemon first)')
    .action(async (o: { check?: boolean; rebuild?: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (o.rebuild) return rebuild(ctx);
      if (!o.check)
        throw new SdError(
          'E_BAD_INPUT',
          'say `sd replay --check` (compare with a fresh rebuild) or `sd replay --rebuild` (repair in place)',
        );
      const r = await ctx.query('replay.check');
      const p = ctx.paint;
      ctx.print(r, () =>
        [
          table(
            ['TABLE', 'ROWS', 'LIVE', 'REBUILT', ''],
            Object.keys(r.live.tables).map((t) => [
              t,
              r.live.tables[t]!.rows,
              r.live.tables[t]!.sum,
              r.rebuilt.tables[t]?.sum,
              r.differing.includes(t) ? p.red('differs') : p.green('equal'),
            ]),
            ctx.style,
          ),
          `search index  ${r.searchIndex.ok ? p.green('equal') : p.red('differs')}: ${r.searchIndex.detail}`,
          ...r.mangled.map((m) => p.red(`mangled event ${m.dev}#${m.seq}: ${m.reason} (see \`sd log verify\`)`)),
          '',
          `total  live ${r.live.total}  rebuilt ${r.rebuilt.total}  from ${r.events} events in ${Math.round(r.ms)} ms: ${r.equal ? p.green('equal') : p.red('DIFFERENT')}`,
          ...(r.equal ? [] : [p.dim('→ repair: `sd stop && sd replay --rebuild`, then `sd start`')]),
        ].join('\n'),
      );
      if (!r.equal) process.exitCode = 1;
    });

  program
    .command('events')
    .description('stream live events (commands committed, job progress) until interrupted')
    .option('--kind <kinds>', 'comma-separated: event,job,service')
    .action(async (o: { kind?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rpc = await ctx.rpc();
      // The daemon refuses a kind it does not know (E_BAD_INPUT).
      const kinds = o.kind ? (o.kind.split(',').map((s) => s.trim()) as BusMessage['kind'][]) : undefined;
      // Each line says which library it belongs to (a daemon serves several).
      const libs = new Map((await ctx.query('library.list')).map((l) => [l.id, l.name] as const));
      const libName = (id: string): string => libs.get(id) ?? shortId(id);
      const s = streamEvents(rpc, { kinds, library: ctx.flags.library }, (m) => {
        const x = ctx.safe(m);
        if (ctx.json) ctx.out(`${JSON.stringify(x)}\n`);
        else if (x.kind === 'event')
          ctx.out(`${time(x.at)}  ${libName(x.lib)}  ${shortId(x.dev)} #${x.seq}  ${x.type}  ${x.summary}\n`);
        else if (x.kind === 'job')
          ctx.out(
            `${time(Date.now())}  ${libName(x.lib)}  job ${shortId(x.job)} ${x.jobKind} ${x.state}${x.phase ? ` ${x.phase}` : ''} ${x.done ?? ''}${x.total ? `/${x.total}` : ''}\n`,
          );
        else ctx.out(`${time(Date.now())}  ${'  '.repeat(Math.max(0, x.depth - 1))}${x.service}: ${x.state}\n`);
      });
      const stop = (): void => s.cancel();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await s.done;
    });
}
