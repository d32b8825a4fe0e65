// The index job's identify phase (content ids from the hash pool, committed in batches with its
// checkpoint), and what the phases share: the location's row and the content-id index's drop.
import { SdError } from '../errors.js';
import { changedIn, locationChanged, type RootPin } from './beneath.js';
import type { Library } from '../library/library.js';
import { FILE, toPath } from '../projections/entries.js';
import { holdCidIndexOut } from '../library/cid-index.js';
import type { JobContext } from './context.js';
import type { HashPool } from './hash-pool.js';
import { kindOf } from './kind.js';
import type { WalkRules } from './walk.js';
import type { PhaseClock } from './phase-times.js';
import type { IndexCheckpoint } from './index-checkpoint.js';
import { inBatches } from '../events/batches.js';

export interface LocationRow {
  id: string;
  dev: string;
  path: string;
  name: string;
  watch: boolean;
  rules: WalkRules;
}

export function locationOf(lib: Library, id: string): LocationRow {
  const r = lib.db.prepare('SELECT id, dev, path, name, watch, rules FROM locations WHERE id = ?').get(id) as
    { id: string; dev: string; path: string; name: string; watch: number; rules: string } | undefined;
  if (!r) throw new SdError('E_LOCATION_NOT_FOUND', `no location ${id} in this library (it may have been removed)`);
  // Jobs act only on this device's own locations (ids name their owner; the projection admits no other).
  if (r.dev !== lib.log.deviceId)
    throw new SdError('E_NOT_OWNER', `location ${id.slice(0, 10)} belongs to another device; only it indexes it`);
  return { ...r, watch: r.watch === 1, rules: JSON.parse(r.rules) as WalkRules };
}

const PAGE = 1024;
/**
 * The files an identify phase has to hash (parameter: location): every file for a full one; else
 * those without a content id, found through the partial index of them (entries_unidentified), so
 * a rescan that left every file identified finds none without two scans of the location.
 */
const pending = (full: boolean): string =>
  `FROM entries WHERE loc = ? AND t = ${FILE}${full ? '' : ' AND cid IS NULL'}`;

/**
 * From this many files to identify, the content-id index is dropped for the phase and built once
 * at its end. Updated per file, its random inserts outgrow the page cache: at 800,000 entries an
 * identified file cost 33 us with the index against 6 us without, and building it took 1.7 s.
 * Meanwhile a lookup by content id scans the table: slower, never wrong.
 */
let bulkFrom = 50_000;

/** Tests only: the phase's threshold for dropping the content-id index. */
export function setBulkIdentifyForTests(n: number): void {
  bulkFrom = n;
}

/**
 * From how many entries walked a first index holds the content-id index out. A first index writes
 * content ids in hash order, each a random insert into that index: on the 100,000-file tree,
 * keeping it for the first 50,000 entries cost 5-7 us per entry of the whole job, against about
 * 1 us per row the library holds to build it at the end. So it goes early when the library is
 * small next to what is being walked (at a fiftieth of the identify threshold in an empty one),
 * at the identify threshold at the latest; `rows` is the library's entries when the job started.
 */
export function firstIndexBulkFrom(rows: number): number {
  return Math.min(bulkFrom, Math.max(bulkFrom / 50, rows / 5));
}

/** The library's entries, as an upper bound read from the rowid (no scan): rows removed lower it only later. */
export function entriesBound(lib: Library): number {
  return (lib.db.prepare('SELECT MAX(id) AS n FROM entries_t').get() as { n: number | null }).n ?? 0;
}

/** Holds the content-id index out when `on` (library/cid-index.ts); the function returned gives it back. */
export function withoutCidIndex(lib: Library, on: boolean): () => void {
  return on ? holdCidIndexOut(lib) : () => undefined;
}

export async function identifyPhase(
  ctx: JobContext,
  loc: LocationRow,
  full: boolean,
  startCursor: string | undefined,
  startSeq: number | undefined,
  clock: PhaseClock,
  pin?: RootPin,
  kept?: IndexCheckpoint['pin'],
): Promise<void> {
  const db = ctx.lib.db;
  const cursor = startCursor ?? '';
  const total = (db.prepare(`SELECT COUNT(*) AS n ${pending(full)} AND key > ?`).get(loc.id, cursor) as { n: number })
    .n;
  const rebuild = withoutCidIndex(ctx.lib, total >= bulkFrom);
  try {
    await identifyPages(ctx, loc, full, cursor, startSeq, clock, total, pin, kept);
  } finally {
    clock.time('commit', 0, rebuild);
  }
}

async function identifyPages(
  ctx: JobContext,
  loc: LocationRow,
  full: boolean,
  startCursor: string,
  startSeq: number | undefined,
  clock: PhaseClock,
  total: number,
  pin: RootPin | undefined,
  kept: IndexCheckpoint['pin'],
): Promise<void> {
  const db = ctx.lib.db;
  let cursor = startCursor;
  const page = db.prepare(`SELECT key, size, name ${pending(full)} AND key > ? ORDER BY key LIMIT ${PAGE}`);
  let done = 0;
  type Row = { key: string; size: number; name: string };
  // A page's hashing is booked to `identify` when it ends; it runs while the page before is committed.
  const request = (after: string): { rows: Row[]; results: ReturnType<HashPool['hash']> } | undefined => {
    const rows = page.all(loc.id, after) as Row[];
    if (rows.length === 0) return undefined;
    const t0 = performance.now();
    // By key below the root: no symlink on the way is followed (a folder swapped for one since
    // the walk is an error for its files, never a read of what it points to).
    const results = ctx
      .pool()
      .hashKeys(
        loc.path,
        rows.map((r) => r.key),
        false,
        pin,
      )
      .then(({ results: r }) => {
        if (changedIn(r.map((x) => ('error' in x ? x.error.code : '')))) throw locationChanged(loc.path);
        clock.add('identify', performance.now() - t0, rows.length);
        return r;
      });
    return { rows, results };
  };
  let next = request(cursor);
  while (next) {
    const rows = next.rows;
    const results = await next.results;
    cursor = rows[rows.length - 1]!.key;
    next = ctx.signal.aborted ? undefined : request(cursor);
    const ids: [string, string, string, number][] = [];
    const errors: { path: string; code: string; message: string }[] = [];
    results.forEach((res, i) => {
      const row = rows[i]!;
      if ('error' in res) errors.push({ path: toPath(row.key), code: res.error.code, message: res.error.message });
      else ids.push([row.key, res.contentId, res.kind === 'other' ? kindOf(row.name) : res.kind, res.size]);
    });
    done += rows.length;
    ctx.errors(errors);
    clock.time('commit', ids.length, () =>
      ctx.commit(
        () => {
          for (const b of inBatches(ids, PAGE, 'entries.identified'))
            ctx.lib.append('entries.identified', { loc: loc.id, ids: b });
        },
        'identify',
        {
          phase: 'identify',
          cursor,
          scopeIdx: 0,
          fresh: false,
          pendingNew: [],
          pendingGone: [],
          walked: 0,
          startSeq,
          times: clock.snapshot(),
          ...(pin && kept ? { pin: kept } : {}),
        },
        done,
        total,
      ),
    );
    ctx.progress('identify', done, total);
    if (ctx.signal.aborted) {
      void next?.results.catch(() => undefined); // a page hashed ahead is dropped: it resumes from the checkpoint
      return;
    }
  }
}
