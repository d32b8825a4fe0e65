// sd tag ..., sd collection ..., sd note, sd fav / unfav (search, dupes and stats: find.ts).
import type { Command } from 'commander';
import { SdError } from '../errors.js';
import { ctxOf } from './program.js';
import { bytes, shortId, table } from './format.js';
import { runCommand } from './run-command.js';
import { searchCommand } from './find.js';
import { devicePaths } from './paths.js';

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

export function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0)
    throw new SdError('E_BAD_INPUT', `${flag} must be a positive integer, not "${s}"`);
  return n;
}

/** The id of a tag or collection; one made of several of one name says how many ("1a2b3c4d +1"). */
const idsCell = (ids: string[]): string => shortId(ids[0]!) + (ids.length > 1 ? ` +${ids.length - 1}` : '');

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
      const rows = await ctx.query<
        {
          id: string;
          ids: string[];
          name: string;
          color: string | null;
          parent: string | null;
          items: number;
          files: number;
        }[]
      >('tag.list');
      ctx.print(rows, () =>
        rows.length
          ? table(
              ['NAME', 'ID', 'COLOR', 'PARENT', 'CONTENT', 'FILES'],
              rows.map((r) => [r.name, idsCell(r.ids), r.color, r.parent, r.items, r.files]),
              ctx.style,
            )
          : 'no tags yet; create one with `sd tag create NAME`',
      );
    });
  tag
    .command('rename <tag> <name>')
    .description('rename a tag (onto an existing name: merge the two, after a confirmation)')
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
        const ctx = ctxOf(cmd);
        await runCommand(ctx, name, {
          tag: t,
          paths: await devicePaths(ctx, paths, o.device),
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
        const ctx = ctxOf(cmd);
        await runCommand(ctx, name, {
          collection: c,
          paths: await devicePaths(ctx, paths, o.device),
          recursive: !!o.recursive,
          device: o.device,
        });
      });
  }
  col
    .command('rename <collection> <name>')
    .description('rename a collection (onto an existing name: merge the two, after a confirmation)')
    .action(async (c: string, name: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'collection.rename', { collection: c, name });
    });
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
      const rows = await ctx.query<{ id: string; ids: string[]; name: string; items: number }[]>('collection.list');
      ctx.print(rows, () =>
        rows.length
          ? table(
              ['NAME', 'ID', 'ITEMS'],
              rows.map((r) => [r.name, idsCell(r.ids), r.items]),
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
      const ctx = ctxOf(cmd);
      const [p] = await devicePaths(ctx, [path], o.device);
      await runCommand(ctx, 'note.set', { path: p, text, device: o.device });
    });
  const fav = program.command('fav').description('favourites: `sd fav PATH...` marks files, `sd fav list` lists them');
  fav
    .command('add <paths...>', { isDefault: true })
    .description('mark files as favourites (the default: `sd fav PATH...`)')
    .option('--device <device>', 'files of another device')
    .action(async (paths: string[], o: { device?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      await runCommand(ctx, 'fav.add', { paths: await devicePaths(ctx, paths, o.device), device: o.device });
    });
  fav
    .command('list')
    .description('the favourite files, on every device (or --device)')
    .option('--device <device>', 'only files on this device')
    .option('--limit <n>', 'at most N files', '50')
    .action(async (o: { device?: string; limit: string }, cmd: Command) => {
      await searchCommand(ctxOf(cmd), undefined, { device: o.device, limit: o.limit, fav: true });
    });
  program
    .command('unfav <paths...>')
    .description('unmark favourites')
    .option('--device <device>', 'files of another device')
    .action(async (paths: string[], o: { device?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      await runCommand(ctx, 'fav.remove', { paths: await devicePaths(ctx, paths, o.device), device: o.device });
    });
}
