// sd ls and sd info: the index, without touching the disk.
import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { ctxOf } from './program.js';
import { bytes, shortId, table, time } from './format.js';
import { devicePaths } from './paths.js';

export function browseCommands(program: Command): void {
  program
    .command('ls [path]')
    .description('list a folder from the index (no disk access); without PATH, the locations')
    .option('--device <device>', 'list a folder of another device')
    .action(async (path: string | undefined, o: { device?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = await ctx.query('entry.ls', {
        path: path === undefined ? undefined : (await devicePaths(ctx, [path], o.device))[0],
        device: o.device,
      });
      const p = ctx.paint;
      ctx.print(r, () =>
        r.entries.length === 0
          ? '(empty)'
          : table(
              ['NAME', 'KIND', 'SIZE', 'MODIFIED', 'CONTENT'],
              r.entries.map((e) => [
                e.isDir ? p.bold(e.name + '/') : e.name,
                e.kind,
                bytes(e.size),
                time(e.modified),
                e.contentId ? shortId(e.contentId, 12) : '-',
              ]),
              ctx.style,
            ),
      );
    });
  program
    .command('info <path>')
    .description('everything known about one entry (from the index)')
    .option('--device <device>', 'an entry of another device')
    .action(async (path: string, o: { device?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const e = await ctx.query('entry.info', {
        path: (await devicePaths(ctx, [path], o.device))[0],
        device: o.device,
      });
      const names = await deviceNames(ctx);
      const on = (dev: string): string => names.get(dev) ?? shortId(dev);
      const copies = e.copies.map(
        (c) => `${c.path}  ${ctx.paint.dim(`on ${on(c.device)}${c.device === e.device ? '' : ' (a backup)'}`)}`,
      );
      ctx.print(e, () =>
        [
          `name       ${e.name}`,
          `path       ${e.path}`,
          `kind       ${e.kind}`,
          `size       ${bytes(e.size)}${e.files !== null ? ` in ${e.files} files` : ''}`,
          `modified   ${time(e.modified)}`,
          `content    ${e.contentId ?? '(not identified yet)'}`,
          `location   ${e.location.name} (${e.location.path}) on ${on(e.device)}`,
          ...(e.tags
            ? [
                `tags       ${e.tags.length ? e.tags.join(', ') : '-'}${e.copies.length && e.tags.length ? ' (on the content: every copy carries them)' : ''}`,
              ]
            : []),
          ...(e.note !== undefined ? [`note       ${e.note ?? '-'}`] : []),
          ...(e.favourite !== undefined ? [`favourite  ${e.favourite ? 'yes' : 'no'}`] : []),
          `copies     ${copies.length ? copies.join('\n           ') : 'none'}`,
        ].join('\n'),
      );
    });
}

/** Device id -> name, for lines that name the device of a copy. */
async function deviceNames(ctx: CliContext): Promise<Map<string, string>> {
  const devs = await ctx.query('device.list');
  return new Map(devs.map((d) => [d.id, d.name]));
}
