// sd pair invite / join, sd peer add / list, sd sync status, sd device revoke.
import type { Command } from 'commander';
import { ctxOf } from './program.js';
import { ago, bytes, duration, shortId, table, time } from './format.js';
import { runCommand } from './run-command.js';
import type { TransferView } from '../transfer/status.js';

export function syncCommands(program: Command): void {
  const pair = program.command('pair').description('pair another device into a library');
  pair
    .command('invite')
    .description('print a one-time code for another device (`sd pair join CODE` there)')
    .option('--ttl <duration>', 'how long the code is valid (e.g. 90s, 5m, 1h)', '5m')
    .option('--host <host>', "the address to put in the code (default: this machine's LAN address)")
    .action(async (o: { ttl: string; host?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      await runCommand(ctx, 'pair.invite', { ttl: o.ttl, host: o.host }, (out) => {
        const r = out.result!;
        return `invite into "${r.library}" from ${r.device} (${r.fingerprint}), valid until ${time(r.expires)} (${duration(r.expires - Date.now())} from now), once:\n\n  ${r.code}\n\non the other device: sd pair join ${r.code}\n`;
      });
    });
  pair
    .command('join <code>')
    .description('join the library of the device that made the code')
    .action(async (code: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'pair.join', { code }, (out) => {
        const r = out.result!;
        const here = r.current.alias
          ? ` (a local alias: another library here is called "${r.current.sharedName}")`
          : '';
        const dropped = r.dropped ? `; the unused "${r.dropped.name}" made at first start was removed` : '';
        return `joined "${r.libraryName}" (${shortId(r.library)}) from ${r.inviterName} ${shortId(r.inviter)}, fingerprint ${r.fingerprint}; its history is syncing\n  current library: "${r.current.name}"${here}${dropped}`;
      });
    });

  const peer = program.command('peer').description('peers reached by address (networks without multicast)');
  peer
    .command('add <address>')
    .description(
      'connect to HOST:PORT now (remembered if a member answers), or to DEVICE_ID: at an address we know, or through the members that link to it',
    )
    .action(async (address: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'peer.add', { address }, (o) => {
        const r = o.result!;
        const who = `${r.name ? `"${r.name}" ` : ''}(${shortId(r.device, 12)}, fingerprint ${r.fingerprint})`;
        return r.address ? `reached ${who} at ${address}; remembered` : `linked to ${who} over ${r.path ?? 'a link'}`;
      });
    });
  peer
    .command('remove <peer>')
    .description('forget HOST:PORT, or every address of a device (id or id prefix), and drop its link')
    .action(async (p: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'peer.remove', { peer: p });
    });
  peer
    .command('list')
    .description('known peers and their links')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const s = await ctx.query('peer.list');
      ctx.print(s, () =>
        s.peers.length
          ? table(
              ['DEVICE', 'ADDRESS', 'STATE', 'LINK', 'RTT', 'SINCE'],
              s.peers.map((p) => [
                shortId(p.device, 12),
                p.address,
                p.state,
                p.path ?? p.link,
                p.rttMs != null ? `${p.rttMs} ms` : '-',
                p.since ? ago(p.since) : '-',
              ]),
              ctx.style,
            )
          : `no peers yet${s.port === null ? ' (peer links are off: `sd start --p2p-port 0`)' : ''}`,
      );
    });

  program
    .command('sync')
    .description('replication with paired devices')
    .command('status')
    .description('per peer: link, state, events behind/ahead per feed, refusals, last error')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const s = await ctx.query('sync.status');
      const p = ctx.paint;
      ctx.print(s, () => {
        const lines = [
          `p2p port ${s.port ?? 'off'}; refused: ${
            Object.entries(s.refusals)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }`,
        ];
        if (s.refusedEvents.length)
          lines.push(
            `events without effect (see \`sd log\`): ${s.refusedEvents
              .map((r) => `${r.name ?? shortId(r.device, 12)} ${r.code} ${r.count}`)
              .join(', ')}`,
          );
        if (s.transfers?.length) {
          lines.push('', p.bold('transfers'));
          for (const x of s.transfers)
            lines.push(
              `  ${x.direction === 'in' ? 'from' : 'to'} ${x.peerName ?? shortId(x.peer, 12)}  ${x.state}  ${bytes(x.bytesDone)} of ${bytes(x.bytesTotal)}${x.files > 1 ? ` (${x.filesDone}/${x.files} files)` : ''}  ${bytes(x.rate)}/s  ETA ${x.eta === null ? '?' : duration(x.eta * 1000)}  ${x.current}`,
            );
        }
        for (const x of s.peers) {
          lines.push(
            '',
            `${p.bold(x.name ?? shortId(x.device, 12))}  ${x.address ?? ''}  ${x.state === 'live' ? p.green(x.state) : p.yellow(x.state)}  ${x.path ?? x.link ?? 'no link'}${x.rttMs != null ? `  rtt ${x.rttMs} ms` : ''}${x.since ? `  since ${time(x.since)} (${ago(x.since)})` : ''}${x.lastError ? `  last error: ${x.lastError}` : ''}`,
          );
          if (x.via?.length) lines.push(`  reachable through ${x.via.map((v) => shortId(v, 12)).join(', ')}`);
          for (const l of x.libraries) {
            lines.push(
              `  library ${shortId(l.library)}: received ${l.received}, sent ${l.sent}, behind ${l.behind}, ahead ${l.ahead}, shared documents ${l.shared ?? '?'}${Object.keys(l.rejected).length ? `, refused ${JSON.stringify(l.rejected)}` : ''}`,
            );
            lines.push(
              table(
                ['  FEED', 'OURS', 'THEIRS'],
                l.feeds.map((f) => [`  ${shortId(f.dev, 12)}`, f.ours, f.theirs]),
                ctx.style,
              ),
            );
          }
        }
        return lines.join('\n');
      });
    });

  const dev = program.commands.find((c) => c.name() === 'device');
  dev
    ?.command('revoke <device>')
    .description('revoke a device (your own, to leave): disconnected, later events refused, earlier ones kept')
    .action(async (d: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'device.revoke', { device: d });
    });
  dev
    ?.command('role <device> <role>')
    .description('make a device an admin (it may add and revoke devices) or a plain member; the creator only')
    .action(async (d: string, role: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'device.role', { device: d, role });
    });
}
