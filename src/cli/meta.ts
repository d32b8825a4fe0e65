// sd tag ..., sd collection ..., sd note, sd fav / unfav, sd search, sd dupes, sd stats.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { SdError } from '../errors.js';
import { ctxOf } from './program.js';
import { bytes, shortId, table, time } from './format.js';
import { runCommand } from './run-command.js';

const abs = (paths: string[], device?: string): string[] =>
  device ? paths : paths.map((p) => resolve(process.cwd(), p));

/** "10M", "1.5GiB", "2048" -> bytes. */
export function parseSize(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new SdError('E_BAD_INPUT', `"${s}" is not a size (e.g. 500K, 10M, 2G)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[
    m[2]!.toLowerCase() as '' | 'k'
  ];
  return Math.round(Number(m[1]) * mult);
}

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0)
    throw new SdError('E_BAD_INPUT', `${flag} must be a positive integer, not "${s}"`);
  return n;
}

export function metaCommands(program: Command): void {
  const tag = program.command('tag').description('tags on file content (they follow moves and every copy)');
  tag
    .command('create <name>')
    .description('create a tag')
    .option('--color <hex>', 'colour as #RRGGBB')
    .option('--parent <tag>', 'parent tag')
    .action(async (name: string, o: { color?: string; parent?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'tag.create', { name, color: o.color, parent: o.parent });
    });
  tag
    .command('list')
    .description('tags and how many files carry them')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows =
        await ctx.query<
          { id: string; name: string; color: string | null; parent: string | null; items: number; files: number }[]
        >('tag.list');
      ctx.print(rows, () =>
        rows.length
          ? table(
              ['NAME', 'ID', 'COLOR', 'PARENT', 'CONTENT', 'FILES'],
              rows.map((r) => [r.name, shortId(r.id), r.color, r.parent, r.items, r.files]),
              ctx.style,
            )
          : 'no tags yet; create one with `sd tag create NAME`',
      );
    });
  tag
    .command('rename <tag> <name>')
    .description('rename a tag')
    .action(async (t: string, name: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'tag.rename', { tag: t, name });
    });
  tag
    .command('delete <tag>')
    .description('delete a tag (removes it from every file)')
    .action(async (t: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'tag.delete', { tag: t });
    });
  for (const [verb, name] of [
    ['apply', 'tag.apply'],
    ['remove', 'tag.remove'],
  ] as const) {
    tag
      .command(`${verb} <tag> <paths...>`)
      .description(verb === 'apply' ? 'tag files (a folder with --recursive)' : 'remove a tag from files')
      .option('-r, --recursive', 'the files inside folders')
      .option('--device <device>', 'paths of another device')
      .action(async (t: string, paths: string[], o: { recursive?: boolean; device?: string }, cmd: Command) => {
        await runCommand(ctxOf(cmd), name, {
          tag: t,
          paths: abs(paths, o.device),
          recursive: !!o.recursive,
          device: o.device,
        });
      });
  }

  const col = program.command('collection').description('ordered collections of files');
  col
    .command('create <name>')
    .description('create a collection')
    .action(async (name: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'collection.create', { name });
    });
  for (const [verb, name] of [
    ['add', 'collection.add'],
    ['remove', 'collection.remove'],
  ] as const) {
    col
      .command(`${verb} <collection> <paths...>`)
      .description(`${verb} files`)
      .option('-r, --recursive', 'the files inside folders')
      .option('--device <device>', 'paths of another device')
      .action(async (c: string, paths: string[], o: { recursive?: boolean; device?: string }, cmd: Command) => {
        await runCommand(ctxOf(cmd), name, {
          collection: c,
          paths: abs(paths, o.device),
          recursive: !!o.recursive,
          device: o.device,
        });
      });
  }
  col
    .command('delete <collection>')
    .description('delete a collection (never the files)')
    .action(async (c: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'collection.delete', { collection: c });
    });
  col
    .command('list')
    .description('collections')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query<{ id: string; name: string; items: number }[]>('collection.list');
      ctx.print(rows, () =>
        rows.length
          ? table(
              ['NAME', 'ID', 'ITEMS'],
              rows.map((r) => [r.name, shortId(r.id), r.items]),
              ctx.style,
            )
          : 'no collections yet',
      );
    });
  col
    .command('show <collection>')
    .description('the items in order, with their current paths')
    .action(async (c: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = await ctx.query<{
        name: string;
        items: { contentId: string; name: string | null; size: number | null; paths: { path: string }[] }[];
      }>('collection.show', { collection: c });
      ctx.print(
        r,
        () =>
          `${ctx.paint.bold(r.name)} (${r.items.length} items)\n` +
          (r.items.length
            ? table(
                ['#', 'NAME', 'SIZE', 'PATH'],
                r.items.map((i, n) => [
                  n + 1,
                  i.name ?? '(content not on any device)',
                  bytes(i.size),
                  i.paths.map((p) => p.path).join(', ') || '-',
                ]),
                ctx.style,
              )
            : ''),
      );
    });

  program
    .command('note <path> <text>')
    .description('attach a note to a file ("" removes it)')
    .option('--device <device>', 'a file of another device')
    .action(async (path: string, text: string, o: { device?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'note.set', { path: abs([path], o.device)[0], text, device: o.device });
    });
  program
    .command('fav <paths...>')
    .description('mark files as favourites')
    .option('--device <device>', 'files of another device')
    .action(async (paths: string[], o: { device?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'fav.add', { paths: abs(paths, o.device), device: o.device });
    });
  program
    .command('unfav <paths...>')
    .description('unmark favourites')
    .option('--device <device>', 'files of another device')
    .action(async (paths: string[], o: { device?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'fav.remove', { paths: abs(paths, o.device), device: o.device });
    });

  program
    .command('search [query]')
    .description('find files by a substring of their name, with filters')
    .option('--ext <ext>', 'extension')
    .option('--kind <kind>', 'image, video, audio, document, archive, code, text, other, folder')
    .option('--tag <tag>', 'carrying this tag')
    .option('--min-size <size>', 'at least this size (e.g. 10M)')
    .option('--max-size <size>', 'at most this size')
    .option('--modified-after <iso>', 'modified at or after this date')
    .option('--location <location>', 'in this location')
    .option('--device <device>', 'on this device (default: all devices)')
    .option('--limit <n>', 'at most N results', '50')
    .option('--sort <key>', 'name, size or modified (default: index order, fastest)')
    .action(async (query: string | undefined, o: Record<string, string | undefined>, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query<
        {
          name: string;
          path: string;
          kind: string;
          size: number;
          modified: number;
          deviceName: string | null;
          device: string;
        }[]
      >('search', {
        query: query ?? '',
        ext: o.ext,
        kind: o.kind,
        tag: o.tag,
        minSize: parseSize(o.minSize),
        maxSize: parseSize(o.maxSize),
        modifiedAfter: o.modifiedAfter,
        location: o.location,
        device: o.device,
        limit: positiveInt(o.limit ?? '50', '--limit'),
        sort: o.sort ?? 'none',
      });
      ctx.print(rows, () =>
        rows.length
          ? table(
              ['NAME', 'KIND', 'SIZE', 'MODIFIED', 'DEVICE', 'PATH'],
              rows.map((r) => [
                r.name,
                r.kind,
                bytes(r.size),
                time(r.modified),
                r.deviceName ?? shortId(r.device),
                r.path,
              ]),
              ctx.style,
            )
          : 'no match',
      );
    });
  program
    .command('dupes')
    .description('groups of files with the same content, biggest waste first')
    .option('--min-size <size>', 'ignore files smaller than this')
    .option('--limit <n>', 'at most N groups', '20')
    .action(async (o: { minSize?: string; limit: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const groups = await ctx.query<
        { contentId: string; size: number; copies: number; wasted: number; paths: { path: string }[] }[]
      >('dupes', { minSize: parseSize(o.minSize) ?? 1, limit: positiveInt(o.limit, '--limit') });
      ctx.print(groups, () =>
        groups.length
          ? groups
              .map(
                (g) =>
                  `${ctx.paint.bold(bytes(g.wasted))} wasted: ${g.copies} copies of ${bytes(g.size)} (${shortId(g.contentId, 12)})\n${g.paths.map((p) => `  ${p.path}`).join('\n')}`,
              )
              .join('\n')
          : 'no duplicates',
      );
    });
  program
    .command('stats')
    .description('files, bytes, by kind, location and device; wasted bytes')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const s = await ctx.query<{
        files: number;
        bytes: number;
        folders: number;
        unidentified: number;
        duplicateGroups: number;
        wastedBytes: number;
        byKind: { kind: string; files: number; bytes: number }[];
        byLocation: { name: string; path: string; files: number; bytes: number }[];
        byDevice: { dev: string; name: string | null; files: number; bytes: number }[];
      }>('stats');
      ctx.print(s, () =>
        [
          `${s.files} files (${bytes(s.bytes)}) in ${s.folders} folders; ${s.unidentified} not identified yet`,
          `duplicates: ${s.duplicateGroups} groups wasting ${bytes(s.wastedBytes)}`,
          '',
          table(
            ['KIND', 'FILES', 'SIZE'],
            s.byKind.map((k) => [k.kind, k.files, bytes(k.bytes)]),
            ctx.style,
          ),
          '',
          table(
            ['LOCATION', 'PATH', 'FILES', 'SIZE'],
            s.byLocation.map((l) => [l.name, l.path, l.files, bytes(l.bytes)]),
            ctx.style,
          ),
          '',
          table(
            ['DEVICE', 'FILES', 'SIZE'],
            s.byDevice.map((d) => [d.name ?? shortId(d.dev), d.files, bytes(d.bytes)]),
            ctx.style,
          ),
        ].join('\n'),
      );
    });
}
