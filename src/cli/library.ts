// sd library ... and sd device ...
import type { Command } from 'commander';
import { ctxOf } from './program.js';
import { ago, bytes, shortId, table, time } from './format.js';
import { runCommand } from './run-command.js';
import { readPassphrase } from './secret.js';
import { readSettingsFile, writeSettingsFile } from '../daemon/settings.js';

export function libraryCommands(program: Command): void {
  const lib = program.command('library').description('create, list, inspect, switch, rename and delete libraries');
  lib
    .command('create <name>')
    .description('create a library')
    .option('--encrypt', 'encrypt the whole library database (passphrase from SD_LIBRARY_PASSPHRASE or a prompt)')
    .action(async (name: string, o: { encrypt?: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const passphrase =
        o.encrypt && !ctx.flags.dryRun ? await readPassphrase('Passphrase for the new library: ', true) : undefined;
      await runCommand(
        ctx,
        'library.create',
        { name, encrypt: !!o.encrypt, passphrase },
        (out) => `created ${o.encrypt ? 'encrypted ' : ''}library "${name}" (${out.result!.id})`,
      );
    });
  lib
    .command('unlock <ref>')
    .description('open an encrypted library (passphrase from SD_LIBRARY_PASSPHRASE or a prompt)')
    .action(async (ref: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      await runCommand(ctx, 'library.unlock', { ref, passphrase: await readPassphrase(`Passphrase for "${ref}": `) });
    });
  lib
    .command('list')
    .description('list the libraries (a library known here by a local alias shows its shared name too)')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query('library.list');
      // The shared name gets a column only when some library is known here by an alias.
      const aliased = rows.some((r) => r.name !== r.sharedName);
      ctx.print(rows, () =>
        table(
          ['', 'NAME', ...(aliased ? ['SHARED NAME'] : []), 'ID', 'EVENTS', 'AT REST'],
          rows.map((r) => [
            r.current ? '*' : '',
            r.name,
            ...(aliased ? [r.name === r.sharedName ? '' : r.sharedName] : []),
            r.id,
            r.events,
            r.locked ? 'encrypted, locked' : r.encrypted ? 'encrypted' : 'plain',
          ]),
          ctx.style,
        ),
      );
    });
  lib
    .command('info [ref]')
    .description('details of a library (default: the current one)')
    .action(async (ref: string | undefined, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const i = await ctx.query('library.info', { ref });
      ctx.print(i, () =>
        [
          `name       ${i.name}${i.current ? ' (current)' : ''}`,
          ...(i.name !== i.sharedName ? [`shared as  ${i.sharedName} (the name here is a local alias)`] : []),
          `id         ${i.id}`,
          `created    ${time(i.createdAt)} by ${i.createdBy ? shortId(i.createdBy) : '-'}`,
          `devices    ${i.devices}`,
          `events     ${i.events}`,
          `database   ${i.path} (${bytes(i.bytes)})`,
        ].join('\n'),
      );
    });
  lib
    .command('use <ref>')
    .description('make a library the current one')
    .action(async (ref: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'library.use', { ref });
    });
  lib
    .command('rename <name>')
    .description('rename the current library (or --library)')
    .action(async (name: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'library.rename', { name });
    });
  lib
    .command('delete <ref>')
    .description('delete a library and its index (never your files); needs --yes or a TTY confirmation')
    .action(async (ref: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'library.delete', { ref });
    });

  const dev = program.command('device').description('devices of the library');
  dev
    .command('list')
    .description('the devices of the library')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query('device.list');
      ctx.print(rows, () =>
        table(
          ['ID', 'NAME', 'FINGERPRINT', 'ONLINE', 'LINK', 'RTT', 'LINKED', 'LAST SEEN', 'EVENTS'],
          rows.map((r) => [
            shortId(r.id, 12) + (r.self ? ' (this)' : ''),
            r.name,
            r.fingerprint,
            r.revokedAt ? 'revoked' : r.online ? 'yes' : 'no',
            r.path ?? r.link,
            r.rttMs != null ? `${r.rttMs} ms` : '-',
            r.linkedSince ? ago(r.linkedSince) : '-',
            r.self ? 'now' : ago(r.lastSeen),
            r.events,
          ]),
          ctx.style,
        ),
      );
    });
  dev
    .command('rename <name>')
    .description('rename this device')
    .action(async (name: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const out = await runCommand(ctx, 'device.rename', { name });
      // A name kept in the settings would rename the device back at the next start.
      const file = readSettingsFile(ctx.dataDir);
      if (out.committed && file['device.name'] !== undefined)
        writeSettingsFile(ctx.dataDir, { ...file, 'device.name': name });
    });
}
