// The index job's last phase: folder sizes and file counts, from the walk's own totals where one
// uninterrupted walk saw everything, else from the projection; only changed folders are written.
import { DIR, FILE, SEP } from '../projections/entries.js';
import type { JobContext } from './context.js';
import type { LocationRow } from './index-phases.js';
import type { PhaseClock } from './phase-times.js';
import { inBatches } from '../events/batches.js';

/** Files (and their bytes) and folders a location holds. */
export interface WalkTotals {
  files: number;
  dirs: number;
  bytes: number;
}

/** Folder sizes and file counts, recomputed from the projection; only changed folders are written. */
export async function aggregatePhase(
  ctx: JobContext,
  loc: LocationRow,
  clock: PhaseClock,
  /** A rescan that changed nothing: its walk's totals, or 'count' to read them from the projection. */
  unchanged?: WalkTotals | 'count',
  /** A first index's folders as its one uninterrupted walk summed them: no scan of the projection. */
  walked?: FolderTotals,
): Promise<void> {
  const t0 = performance.now();
  const files = unchanged
    ? aggregateUnchanged(ctx, loc, unchanged)
    : walked
      ? aggregateWalked(ctx, loc, walked)
      : aggregateAll(ctx, loc);
  clock.add('aggregate', performance.now() - t0, files);
  // The last checkpoint holds every phase's time, the aggregate's own included.
  ctx.commit(() => undefined, 'aggregate', { phase: 'aggregate', times: clock.snapshot() }, files, files);
  ctx.progress('aggregate', files, files);
}

function aggregateUnchanged(ctx: JobContext, loc: LocationRow, walked: WalkTotals | 'count'): number {
  // The walk matched every indexed entry, so its totals are the projection's (two scans of it
  // otherwise: 48 ms of a 500 ms rescan of /usr/lib).
  const t =
    walked !== 'count'
      ? walked
      : (ctx.lib.db
          .prepare(
            'SELECT COALESCE(SUM(t = 0), 0) AS files, COALESCE(SUM(CASE WHEN t = 0 THEN size END), 0) AS bytes, COALESCE(SUM(t = 1), 0) AS dirs FROM entries WHERE loc = ?',
          )
          .get(loc.id) as WalkTotals);
  ctx.commit(
    () => ctx.lib.append('location.indexed', { id: loc.id, files: t.files, dirs: t.dirs, bytes: t.bytes }),
    'aggregate',
    { phase: 'aggregate' },
    t.files,
    t.files,
  );
  return t.files;
}

type Dir = { bytes: number; files: number; old: [number | null, number | null] };

/** The nearest ancestor of `key` that is an indexed folder (usually its parent). */
function folderAbove(dirs: Map<string, Dir>, key: string): Dir | undefined {
  for (let i = key.lastIndexOf(SEP); i > 0; i = key.lastIndexOf(SEP, i - 1)) {
    const d = dirs.get(key.slice(0, i));
    if (d) return d;
  }
  return undefined;
}

function aggregateAll(ctx: JobContext, loc: LocationRow): number {
  const snap = ctx.lib.openReader();
  const dirs = new Map<string, Dir>();
  let files = 0;
  let bytes = 0;
  try {
    // Raw rows in key order: a folder comes before everything inside it.
    const q = snap.prepare('SELECT key, t, size, dsize, dfiles FROM entries WHERE loc = ? ORDER BY key').raw(true);
    for (const [key, t, size, dsize, dfiles] of q.iterate(loc.id) as IterableIterator<
      [string, number, number, number | null, number | null]
    >) {
      if (t === DIR) {
        dirs.set(key, { bytes: 0, files: 0, old: [dsize, dfiles] });
        continue;
      }
      if (t !== FILE) continue;
      files++;
      bytes += size;
      const d = folderAbove(dirs, key); // each file counts once, in its folder...
      if (d) {
        d.bytes += size;
        d.files++;
      }
    }
  } finally {
    snap.close();
  }
  // ...and each folder's totals move up, deepest first (reverse key order), so every folder ends
  // with the files of its whole subtree.
  const keys = [...dirs.keys()];
  for (let i = keys.length - 1; i >= 0; i--) {
    const d = dirs.get(keys[i]!)!;
    const up = folderAbove(dirs, keys[i]!);
    if (up) {
      up.bytes += d.bytes;
      up.files += d.files;
    }
  }
  const changed = [...dirs]
    .filter(([, d]) => d.old[0] !== d.bytes || d.old[1] !== d.files)
    .map(([k, d]) => [k, d.bytes, d.files] as [string, number, number]);
  return commitAggregate(ctx, loc, changed, { files, dirs: dirs.size, bytes });
}

function commitAggregate(
  ctx: JobContext,
  loc: LocationRow,
  changed: [string, number, number][],
  t: WalkTotals,
): number {
  ctx.commit(
    () => {
      for (const b of inBatches(changed, 1000, 'entries.aggregated'))
        ctx.lib.append('entries.aggregated', { loc: loc.id, dirs: b });
      ctx.lib.append('location.indexed', { id: loc.id, files: t.files, dirs: t.dirs, bytes: t.bytes });
    },
    'aggregate',
    { phase: 'aggregate' },
    t.files,
    t.files,
  );
  return t.files;
}

/**
 * Each folder's files and bytes, summed as a walk goes (folders come before their contents), then
 * moved up deepest first. Only for a first index walked in one go without an error: what it wrote
 * is then exactly what it walked, and every folder is new (so every folder is written).
 */
export class FolderTotals {
  /** Folder key -> [bytes, files] of the files directly in it, then of its whole subtree. */
  private readonly dirs = new Map<string, [number, number]>();
  files = 0;
  bytes = 0;

  folder(key: string): void {
    this.dirs.set(key, [0, 0]);
  }

  file(key: string, size: number): void {
    this.files++;
    this.bytes += size;
    const i = key.lastIndexOf(SEP);
    const d = i < 0 ? undefined : this.dirs.get(key.slice(0, i));
    if (d) {
      d[0] += size;
      d[1]++;
    }
  }

  /** [key, bytes, files] of every folder, with its subtree's totals. */
  rows(): [string, number, number][] {
    const keys = [...this.dirs.keys()].sort();
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      const j = k.lastIndexOf(SEP);
      const up = j < 0 ? undefined : this.dirs.get(k.slice(0, j));
      if (up) {
        const d = this.dirs.get(k)!;
        up[0] += d[0];
        up[1] += d[1];
      }
    }
    return keys.map((k) => {
      const [bytes, files] = this.dirs.get(k)!;
      return [k, bytes, files];
    });
  }
}

function aggregateWalked(ctx: JobContext, loc: LocationRow, walked: FolderTotals): number {
  const rows = walked.rows();
  return commitAggregate(ctx, loc, rows, { files: walked.files, dirs: rows.length, bytes: walked.bytes });
}
