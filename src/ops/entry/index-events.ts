// The index side of a file operation: the entries.* events that make the projection match what
// the steps did on disk, appended in the same transaction that marks the intent done.
import { SEP, parentKey, toKey, type EntryTuple } from '../../projections/entries.js';
import { tupleOf } from '../../jobs/walk-stat.js';
import { walkSync, type WalkRules } from '../../jobs/walk.js';
import type { Library } from '../../library/library.js';
import { excludedBelow } from '../../jobs/exclude.js';
import { specialKindOf } from '../../jobs/kind.js';
import { withParent } from './confine.js';
import { indexable } from './paths.js';
import type { Step } from './steps.js';
import { inBatches } from '../../events/batches.js';

const BATCH = 1000;

function rulesOf(lib: Library, loc: string): { path: string; rules: WalkRules } | undefined {
  const r = lib.db.prepare('SELECT path, rules FROM locations WHERE id = ?').get(loc) as
    { path: string; rules: string } | undefined;
  return r && { path: r.path, rules: JSON.parse(r.rules) as WalkRules };
}

const indexed = (lib: Library, loc: string, key: string): boolean =>
  !!lib.db.prepare('SELECT 1 FROM entries WHERE loc = ? AND key = ?').get(loc, key);

/**
 * Entries for a path and (for a folder) everything below it that the location's rules index,
 * read through its held parent folder: nothing is indexed through a link that appeared on the way.
 */
function treeTuples(root: string, abs: string, key: string, rules: WalkRules): EntryTuple[] {
  try {
    return withParent(root, abs, (d, n) => {
      const st = d.lstat(n);
      if (!st) return [];
      const special = specialKindOf(st);
      const out = [
        tupleOf(key, {
          relPath: '',
          name: n,
          isDir: st.isDirectory(),
          isSymlink: st.isSymbolicLink(),
          size: st.isDirectory() ? 0 : st.size,
          mtimeMs: st.mtimeMs,
          inode: BigInt(st.ino),
          dev: BigInt(st.dev),
          ...(special ? { special } : {}),
        }),
      ];
      if (out[0]![1] !== 1) return out;
      const at = d.at(n);
      // The walk runs below the held folder: excluded folders (the data dir) are named from there.
      const exclude = excludedBelow(abs).map((e) => `${String(at)}${e.path.slice(abs.length)}`);
      // Opened from the held folder without following a symlink: one swapped in for `n` since its
      // lstat is never walked (the walk then throws, and nothing is there for this location).
      for (const b of walkSync(at, rules, { exclude, below: d.base }))
        for (const e of b.entries) out.push(tupleOf(key + SEP + toKey(e.relPath), e));
      return out;
    });
  } catch {
    return []; // not reachable without following a link: nothing there for this location
  }
}

/**
 * Makes the index of a path (and its subtree) match the disk: entries that are gone are
 * deleted, new or changed ones upserted, and files get the content ids we know (from a manifest
 * hashed at preview) where their size still matches. Returns the folders indexed there.
 */
export function syncPath(lib: Library, loc: string, key: string, abs: string, cids?: Step['manifest']): string[] {
  const l = rulesOf(lib, loc);
  if (!l) return [];
  const tuples = indexable(l.rules, key.split(SEP).join('/')) ? treeTuples(l.path, abs, key, l.rules) : [];
  const have = new Map<string, { t: number; size: number; mtime: number; inode: number; cid: string | null }>();
  const rows = lib.db
    .prepare('SELECT key, t, size, mtime, inode, cid FROM entries WHERE loc = ? AND (key = ? OR (key > ? AND key < ?))')
    .all(loc, key, key + SEP, key + '\u0002') as {
    key: string;
    t: number;
    size: number;
    mtime: number;
    inode: number;
    cid: string | null;
  }[];
  for (const r of rows) have.set(r.key, r);
  const want = new Map(tuples.map((t) => [t[0], t[1]]));
  const gone = [...have.keys()].filter((k) => want.get(k) !== have.get(k)!.t);
  for (const b of inBatches(gone, BATCH, 'entries.deleted')) lib.append('entries.deleted', { loc, keys: b });
  const goneSet = new Set(gone);
  const changed = tuples.filter((t) => {
    const h = have.get(t[0]);
    return !h || goneSet.has(t[0]) || h.size !== t[2] || h.mtime !== t[3] || h.inode !== Number(t[4]);
  });
  for (const b of inBatches(changed, BATCH, 'entries.upserted')) lib.append('entries.upserted', { loc, e: b });
  if (cids && tuples.length) {
    const sizes = new Map(tuples.map((t) => [t[0], t[2]]));
    const ids = cids.items
      .map(
        (it) =>
          [it[0] === '' ? key : key + SEP + toKey(it[0]), it[4], it[5], it[2]] as [
            string,
            string | null,
            string,
            number,
          ],
      )
      .filter(
        (x): x is [string, string, string, number] =>
          x[1] !== null && sizes.get(x[0]) === x[3] && (goneSet.has(x[0]) || have.get(x[0])?.cid !== x[1]),
      );
    for (const b of inBatches(ids, BATCH, 'entries.identified')) lib.append('entries.identified', { loc, ids: b });
  }
  return tuples.filter((t) => t[1] === 1).map((t) => t[0]);
}

/** Appends the events for one step that ran; returns the folders whose totals changed, per location. */
export function appendStepEvents(lib: Library, s: Step, touched: Map<string, Set<string>>): void {
  const touch = (loc: string, keys: string[]): void => {
    const set = touched.get(loc) ?? touched.set(loc, new Set()).get(loc)!;
    for (const k of keys) set.add(k);
  };
  if (s.k === 'delete') {
    if (s.fromLoc && indexed(lib, s.fromLoc, s.fromKey!))
      lib.append('entries.deleted', { loc: s.fromLoc, keys: [s.fromKey!] });
    if (s.fromLoc) touch(s.fromLoc, [parentKey(s.fromKey!)]);
    return;
  }
  if (s.k === 'move' && s.fromLoc && s.fromLoc === s.toLoc && indexed(lib, s.fromLoc, s.fromKey!)) {
    const l = rulesOf(lib, s.toLoc);
    if (l && indexable(l.rules, s.toKey!.split(SEP).join('/'))) {
      lib.append('entries.moved', { loc: s.fromLoc, moves: [[s.fromKey!, s.toKey!]] });
      // The disk may differ from what the index knew about the source: settle the difference.
      touch(s.fromLoc, [
        parentKey(s.fromKey!),
        parentKey(s.toKey!),
        ...syncPath(lib, s.toLoc, s.toKey!, s.to!, s.manifest),
      ]);
      return;
    }
  }
  if (s.k === 'move' && s.fromLoc && indexed(lib, s.fromLoc, s.fromKey!)) {
    lib.append('entries.deleted', { loc: s.fromLoc, keys: [s.fromKey!] });
    touch(s.fromLoc, [parentKey(s.fromKey!)]);
  }
  if (s.toLoc) touch(s.toLoc, [parentKey(s.toKey!), ...syncPath(lib, s.toLoc, s.toKey!, s.to!, s.manifest)]);
}

/** Recomputes folder totals (size, files) of the given folders and all their ancestors. */
export function appendAggregates(lib: Library, touched: Map<string, Set<string>>): void {
  for (const [loc, keys] of touched) {
    const all = new Set<string>();
    for (let k of keys) {
      for (; k !== '' && !all.has(k); k = parentKey(k)) all.add(k);
    }
    const dirs: [string, number, number][] = [];
    const q = lib.db.prepare(
      `SELECT COALESCE(SUM(size), 0) AS b, COUNT(*) AS n FROM entries WHERE loc = ? AND t = 0 AND key > ? AND key < ?`,
    );
    for (const k of all) {
      if (!lib.db.prepare('SELECT 1 FROM entries WHERE loc = ? AND key = ? AND t = 1').get(loc, k)) continue;
      const r = q.get(loc, k + SEP, k + '\u0002') as { b: number; n: number };
      dirs.push([k, r.b, r.n]);
    }
    for (const b of inBatches(dirs, BATCH, 'entries.aggregated')) lib.append('entries.aggregated', { loc, dirs: b });
  }
}
