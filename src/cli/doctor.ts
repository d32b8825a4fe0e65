// sd doctor: works without a daemon (it reads the files itself; loaded only for this command).
import type { Command } from 'commander';
import { ctxOf } from './program.js';

export function doctorCommands(program: Command): void {
  program
    .command('doctor')
    .description(
      'check every library database (SQLite integrity, log signatures and chains) and say what can be recovered; no daemon needed',
    )
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const { doctor, healthy } = await import('../ops/doctor/check.js');
      const r = await doctor(ctx.dataDir);
      const p = ctx.paint;
      const disk = r.disk.full
        ? `${p.red('✗')} the disk holding ${ctx.dataDir} is full (${((r.disk.freeBytes ?? 0) / 2 ** 20).toFixed(1)} MiB free): the daemon cannot write; free some space\n\n`
        : '';
      ctx.print(
        r,
        () =>
          disk +
          (r.libraries.length === 0
            ? `no library databases in ${ctx.dataDir}`
            : r.libraries
                .map((l) =>
                  [
                    `${healthy(l) ? p.green('✓') : p.red('✗')} ${l.name ?? '(unknown name)'}${l.locked ? ' (encrypted, locked)' : ''}  ${l.file}`,
                    l.locked
                      ? `  integrity  ${l.integrity.length ? l.integrity.join('; ') : 'key info and encryption in order; the rest needs the passphrase'}`
                      : `  integrity  ${l.opens ? (l.integrity.length ? l.integrity.slice(0, 3).join('; ') : 'ok') : `cannot open: ${l.integrity[0] ?? 'unknown reason'}`}`,
                    `  log        ${l.events === null ? (l.locked ? 'not checked (locked)' : '-') : `${l.events} events, ${l.badEvents} bad${l.firstBad ? `; first: ${l.firstBad}` : ''}${l.created === false ? '; no creation event' : ''}`}`,
                    `  projections ${l.projections === null ? '-' : l.projections.equal ? 'equal to a rebuild from the log' : `differ: ${l.projections.differing.join(', ')}`}`,
                    ...l.advice.map((a) => `  ${p.dim('→')} ${a}`),
                  ].join('\n'),
                )
                .join('\n\n')),
      );
      if (!r.ok) process.exitCode = 1;
    });
}
