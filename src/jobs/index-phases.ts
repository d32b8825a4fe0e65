// The index job's later phases: content identification (hash pool) and aggregation
// (folder sizes and file counts), each committed in batches with its checkpoint.
import { SdError } from '../errors.js';
import type { Library } from '../library/library.js';
import { DIR, FILE, SEP, toPath } from '../projections/entries.js';
import type { JobContext } from './context.js';
import { kindOf } from './kind.js';
import { fsPathOf } from './names.js';
import type { WalkRules } from './walk.js';
import type { PhaseClock } from './phase-times.js';

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

export async function identifyPhase(
  ctx: JobContext,
  loc: LocationRow,
  full: boolean,
  startCursor: string | undefined,
  startSeq: number | undefined,
  clock: PhaseClock,
): Promise<void> {
  const db = ctx.lib.db;
  let cursor = startCursor ?? '';
  const pending = `FROM entries WHERE loc = ? AND t = ${FILE} AND (cid IS NULL OR ? = 1)`;
  const total = (
    db.prepare(`SELECT COUNT(*) AS n ${pending} AND key > ?`).get(loc.id, full ? 1 : 0, cursor) as { n: number }
  ).n;
  const page = db.prepare(`SELECT key, size, name ${pending} AND key > ? ORDER BY key LIMIT ${PAGE}`);
  let done = 0;
  for (;;) {
    const rows = page.all(loc.id, full ? 1 : 0, cursor) as { key: string; size: number; name: string }[];
    if (rows.length === 0) break;
    const results = await clock.timeAsync('identify', rows.length, () =>
      ctx.pool().hash(rows.map((r) => fsPathOf(loc.path, toPath(r.key)))),
    );
    const ids: [string, string, string, number][] = [];
    const errors: { path: string; code: string; message: string }[] = [];
    results.forEach((res, i) => {
      const row = rows[i]!;
      if ('error' in res) errors.push({ path: toPath(row.key), code: res.error.code, message: res.error.message });
      else ids.push([row.key, res.contentId, res.kind === 'other' ? kindOf(row.name) : res.kind, res.size]);
    });
    cursor = rows[rows.length - 1]!.key;
    done += rows.length;
    ctx.errors(errors);
    clock.time('commit', ids.length, () =>
      ctx.commit(
        () => ids.length && ctx.lib.append('entries.identified', { loc: loc.id, ids }),
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
        },
        done,
        total,
      ),
    );
    ctx.progress('identify', done, total);
    if (ctx.signal.aborted) return;
  }
}

/** Folder sizes and file counts, recomputed from the projection; only changed folders are written. */
export async function aggregatePhase(
  ctx: JobContext,
  loc: LocationRow,
  clock: PhaseClock,
  unchanged = false,
): Promise<void> {
  const t0 = performance.now();
  const files = unchanged ? aggregateUnchanged(ctx, loc) : aggregateAll(ctx, loc);
  clock.add('aggregate', performance.now() - t0, files);
  // The last checkpoint holds every phase's time, the aggregate's own included.
  ctx.commit(() => undefined, 'aggregate', { phase: 'aggregate', times: clock.snapshot() }, files, files);
  ctx.progress('aggregate', files, files);
}

function aggregateUnchanged(ctx: JobContext, loc: LocationRow): number {
  {
    const t = ctx.lib.db
      .prepare('SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM entries WHERE loc = ? AND t = 0')
      .get(loc.id) as { files: number; bytes: number };
    const dirs = (
      ctx.lib.db.prepare('SELECT COUNT(*) AS n FROM entries WHERE loc = ? AND t = 1').get(loc.id) as { n: number }
    ).n;
    ctx.commit(
      () => ctx.lib.append('location.indexed', { id: loc.id, files: t.files, dirs, bytes: t.bytes }),
      'aggregate',
      { phase: 'aggregate' },
      t.files,
      t.files,
    );
    return t.files;
  }
}

function aggregateAll(ctx: JobContext, loc: LocationRow): number {
  const snap = ctx.lib.openReader();
  const dirs = new Map<string, { bytes: number; files: number; old: [number | null, number | null] }>();
  let files = 0;
  let bytes = 0;
  try {
    for (const r of snap
      .prepare('SELECT key, t, size, dsize, dfiles FROM entries WHERE loc = ? ORDER BY key')
      .iterate(loc.id) as IterableIterator<{
      key: string;
      t: number;
      size: number;
      dsize: number | null;
      dfiles: number | null;
    }>) {
      if (r.t === DIR) {
        dirs.set(r.key, { bytes: 0, files: 0, old: [r.dsize, r.dfiles] });
        continue;
      }
      if (r.t !== FILE) continue;
      files++;
      bytes += r.size;
      let k = r.key;
      for (let i = k.lastIndexOf(SEP); i >= 0; i = k.lastIndexOf(SEP)) {
        k = k.slice(0, i);
        const d = dirs.get(k);
        if (d) {
          d.bytes += r.size;
          d.files++;
        }
      }
    }
  } finally {
    snap.close();
  }
  const changed = [...dirs]
    .filter(([, d]) => d.old[0] !== d.bytes || d.old[1] !== d.files)
    .map(([k, d]) => [k, d.bytes, d.files] as [string, number, number]);
  ctx.commit(
    () => {
      for (let i = 0; i < changed.length; i += 1000)
        ctx.lib.append('entries.aggregated', { loc: loc.id, dirs: changed.slice(i, i + 1000) });
      ctx.lib.append('location.indexed', { id: loc.id, files, dirs: dirs.size, bytes });
    },
    'aggregate',
    { phase: 'aggregate' },
    files,
    files,
  );
  return files;
}
