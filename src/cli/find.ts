// sd search, sd dupes, sd stats (and the listing behind sd fav list).
import type { Command } from 'commander';
import { SdError } from '../errors.js';
import type { CliContext } from './context.js';
import { ctxOf } from './program.js';
import { bytes, shortId, table, time } from './format.js';
import { parseSize, positiveInt } from './meta.js';
import type { QueryResult } from '../ops/registry.js';

export function findCommands(program: Command): void {
  program
    .command('search [query]')
    .description('find files by a substring of their name, with filters')
    .option('--ext <ext>', 'extension')
    .option('--kind <kind>', 'image, video, audio, document, archive, code, text, other, folder')
    .option('--tag <tag>', 'carrying this tag')
    .option('--fav', 'only favourites')
    .option('--min-size <size>', 'at least this size (e.g. 10M; a folder by what it holds)')
    .option('--max-size <size>', 'at most this size')
    .option('--modified-after <iso>', 'modified at or after this date')
    .option('--location <location>', 'in this location')
    .option('--device <device>', 'on this device (default: all devices)')
    .option('--limit <n>', `at most N results per page (up to ${MAX_PAGE})`, '50')
    .option('--page <n>', 'which page of --limit results (1 is the first)', '1')
    .option('--sort <key>', 'name, size or modified (default: index order, fastest)')
    .action(async (query: string | undefined, o: Record<string, string | boolean | undefined>, cmd: Command) => {
      await searchCommand(ctxOf(cmd), query, o);
    });
  program
    .command('dupes')
    .description(
      'files with the same content on one device, biggest waste first (a copy on another device is a backup)',
    )
    .option('--min-size <size>', 'ignore files smaller than this')
    .option('--device <device>', 'only the waste on this device')
    .option('--limit <n>', 'at most N groups', '20')
    .action(async (o: { minSize?: string; limit: string; device?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const groups = await ctx.query('dupes', {
        minSize: parseSize(o.minSize) ?? 1,
        limit: positiveInt(o.limit, '--limit'),
        device: o.device,
      });
      ctx.print(groups, () => (groups.length ? groups.map((g) => describeGroup(ctx, g)).join('\n') : 'no duplicates'));
    });
  program
    .command('stats')
    .description('files, bytes, by kind, location and device; wasted bytes')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const s = await ctx.query('stats');
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

const MAX_PAGE = 10_000;

/** sd search and sd fav list: one page of results, and how to see more when it was cut. */
export async function searchCommand(
  ctx: CliContext,
  query: string | undefined,
  o: Record<string, string | boolean | undefined>,
): Promise<void> {
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const limit = positiveInt(str('limit') ?? '50', '--limit');
  if (limit > MAX_PAGE) throw new SdError('E_BAD_INPUT', `--limit is at most ${MAX_PAGE}; use --page for more`);
  const page = positiveInt(str('page') ?? '1', '--page');
  // One more than the page, to know whether there is more.
  const rows = await ctx.query('search', {
    query: query ?? '',
    ext: str('ext'),
    kind: str('kind'),
    tag: str('tag'),
    fav: o.fav === true ? true : undefined,
    minSize: parseSize(str('minSize')),
    maxSize: parseSize(str('maxSize')),
    modifiedAfter: str('modifiedAfter'),
    location: str('location'),
    device: str('device'),
    limit: limit + 1,
    offset: (page - 1) * limit,
    sort: str('sort') ?? 'none',
  });
  const more = rows.length > limit;
  const shown = rows.slice(0, limit);
  const first = (page - 1) * limit + 1;
  ctx.print(shown, () => {
    if (!shown.length) return page > 1 ? `no results on page ${page}` : o.fav ? 'no favourites yet' : 'no match';
    const lines = [
      table(
        ['NAME', 'KIND', 'SIZE', 'MODIFIED', 'DEVICE', 'PATH'],
        shown.map((r) => [r.name, r.kind, bytes(r.size), time(r.modified), r.deviceName ?? shortId(r.device), r.path]),
        ctx.style,
      ),
    ];
    if (more)
      lines.push(
        ctx.paint.dim(
          `results ${first}-${first + limit - 1} shown; there are more: add --page ${page + 1}, or a larger --limit (up to ${MAX_PAGE})`,
        ),
      );
    else if (page > 1) lines.push(ctx.paint.dim(`results ${first}-${first + shown.length - 1}: the last page`));
    return lines.join('\n');
  });
}

type DupeGroup = QueryResult<'dupes'>[number];

/** A group: its waste, then its copies by device; copies on other devices are marked backups. */
function describeGroup(ctx: CliContext, g: DupeGroup): string {
  const byDev = new Map<string, { name: string; paths: string[] }>();
  for (const p of g.paths) {
    const d =
      byDev.get(p.device) ?? byDev.set(p.device, { name: p.deviceName ?? shortId(p.device), paths: [] }).get(p.device)!;
    d.paths.push(p.path);
  }
  const head = `${ctx.paint.bold(bytes(g.wasted))} wasted: ${g.copies} copies of ${bytes(g.size)} on ${byDev.size} device(s) (${shortId(g.contentId, 12)})`;
  const lines = [head];
  for (const d of byDev.values()) {
    lines.push(
      `  on ${d.name}: ${d.paths.length > 1 ? `${d.paths.length} copies` : '1 copy (a backup of the others)'}`,
    );
    for (const p of d.paths) lines.push(`    ${p}`);
  }
  return lines.join('\n');
}
