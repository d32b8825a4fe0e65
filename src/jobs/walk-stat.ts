// The lstat step of a walk: attributes of the planned names, on this thread or a stat worker's
// (statx through koffi where it loads, Node's lstat otherwise), in a column form that crosses
// threads cheaply, and their assembly into the walker's batches.
import { constants as fsConstants, lstatSync } from 'node:fs';
import type { LstatColumns } from './hash-wire.js';
import { kindOf, type SpecialKind } from './kind.js';
import { DIR, FILE, SPECIAL, SYMLINK, type EntryTuple } from '../projections/entries.js';
import { fastLstat, fromNodeStats, type RawStat } from './statx.js';
import type { PlannedBatch, WalkError } from './walk-plan.js';
import { beneath, closeRoot, openRoot, type RootPin } from './beneath.js';
import type { StatBelow, WalkBatch, WalkEntry } from './walk.js';
import { lstatBatch } from './walk-batch.js';

const SPECIAL_OF: Record<number, SpecialKind> = { 1: 'fifo', 2: 'socket', 4: 'block-device', 8: 'char-device' };
const { S_IFMT, S_IFLNK, S_IFDIR, S_IFREG, S_IFIFO, S_IFSOCK, S_IFBLK, S_IFCHR } = fsConstants;
const SPECIAL_BITS: Record<number, number> = { [S_IFIFO]: 16, [S_IFSOCK]: 32, [S_IFBLK]: 64, [S_IFCHR]: 128 };

/**
 * The walk's entry for `rel` from `i` of the stat columns, or its error (failed or vanished).
 * `failed` holds the columns' errors by index (for a batch); without it they are searched.
 */
export function entryAt(
  rel: string,
  st: LstatColumns,
  i: number,
  failed?: ReadonlyMap<number, [string, string]>,
): WalkEntry | WalkError {
  const flags = st.flags[i]!;
  if (flags === 0) {
    const err = failed ? failed.get(i) : st.errors.find((e) => e[0] === i)?.slice(1);
    const [code, message] = (err as [string, string] | undefined) ?? ['E_INTERNAL', 'lstat failed'];
    return { path: rel, code, message };
  }
  if (flags === 1) return { path: rel, code: 'ENOENT', message: `vanished before it could be read: ${rel}` };
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (flags === UNSTATTED)
    return {
      relPath: rel,
      name,
      isDir: false,
      isSymlink: false,
      size: NaN,
      mtimeMs: NaN,
      inode: 0n,
      dev: 0n,
      unstatted: true,
    };
  return {
    relPath: rel,
    name,
    isDir: (flags & 4) !== 0,
    isSymlink: (flags & 8) !== 0,
    size: st.size[i]!,
    mtimeMs: st.mtimeMs[i]!,
    inode: st.ino[i]!,
    dev: st.dev[i]!,
    special: flags >= 16 ? SPECIAL_OF[flags >> 4] : undefined,
  };
}

// A planned batch (its rels in walk order) plus its lstat results, as the walker's batch.
export function assemble(
  rels: readonly string[],
  errors: WalkError[],
  st: LstatColumns,
  cursorBefore: string | undefined,
): WalkBatch {
  const entries: WalkEntry[] = [];
  const failed = new Map<number, [string, string]>();
  for (const [i, code, message] of st.errors) failed.set(i, [code, message]);
  for (let i = 0; i < rels.length; i++) {
    const e = entryAt(rels[i]!, st, i, failed);
    if ('code' in e) errors.push(e);
    else entries.push(e);
  }
  const cursor = rels.length > 0 ? rels[rels.length - 1]! : cursorBefore;
  return { entries, errors, cursor };
}

export const assemblePlanned = (b: PlannedBatch, st: LstatColumns, cursorBefore: string | undefined): WalkBatch =>
  assemble(
    b.items.map((i) => i.rel),
    b.errors,
    st,
    cursorBefore,
  );

/** Columns for `n` stats, all failed until filled. */
export function statColumns(n: number): LstatColumns {
  return {
    flags: new Uint8Array(n),
    size: new Float64Array(n),
    mtimeMs: new Float64Array(n),
    ino: new BigUint64Array(n),
    dev: new BigUint64Array(n),
    errors: [],
  };
}

/**
 * A regular file (by its folder's listing) whose attributes were not read by the walk: a first
 * index reads them from the descriptor it hashes the file through (one system call per file less).
 */
export const UNSTATTED = 3;

/** The flags of an entry whose stat says it is a regular file. */
export const REGULAR_FILE = 2;

/** Puts one stat at `i` of the columns. */
export function putStat(out: LstatColumns, i: number, st: RawStat): void {
  const fmt = st.mode & S_IFMT;
  const link = fmt === S_IFLNK;
  const dir = fmt === S_IFDIR;
  const special = fmt === S_IFREG || link || dir ? 0 : (SPECIAL_BITS[fmt] ?? 0);
  out.flags[i] = REGULAR_FILE | (dir ? 4 : 0) | (link ? 8 : 0) | special;
  out.size[i] = dir ? 0 : st.size;
  out.mtimeMs[i] = Number(st.mtimeNs) / 1e6;
  out.ino[i] = st.ino;
  out.dev[i] = st.dev;
}

const scratch: RawStat = { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n };

/** lstat of `path` into `i` of the columns: vanished (flags 1) or failed (an error) are values. */
export function lstatInto(out: LstatColumns, i: number, path: string | Buffer): void {
  const fast = fastLstat();
  statInto(out, i, (st) => (fast ? fast(path, st) : nodeLstat(path, st)));
}

/** As lstatInto, with the lstat given (false: vanished), e.g. beneath.ts's below a location's root. */
export function statInto(out: LstatColumns, i: number, lstat: (st: RawStat) => boolean): void {
  try {
    if (!lstat(scratch)) out.flags[i] = 1;
    else putStat(out, i, scratch);
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    out.errors.push([i, typeof code === 'string' ? code : 'E_INTERNAL', e instanceof Error ? e.message : String(e)]);
  }
}

/**
 * lstat of a batch on this thread, in the pool's column form (the stat workers run this too).
 * With `unstatted`, the paths it marks are left UNSTATTED, without a system call.
 */
export function lstatColumns(paths: readonly (string | Buffer)[], unstatted?: (i: number) => boolean): LstatColumns {
  const out = statColumns(paths.length);
  for (let i = 0; i < paths.length; i++)
    if (unstatted?.(i)) out.flags[i] = UNSTATTED;
    else lstatInto(out, i, paths[i]!);
  return out;
}

/**
 * lstat of a walk's entries below `top` (their paths from it in `rels`), in the pool's column
 * form: each folder is opened from `top`'s descriptor without following a symlink (beneath.ts),
 * so a folder swapped for one since it was listed is E_PATH_CHANGED for its entries, never the
 * attributes of what it points to. By path (`paths`) where that cannot be done.
 */
export function lstatBelow(
  top: string | Buffer,
  rels: ReadonlyArray<string | Buffer>,
  paths: readonly (string | Buffer)[],
  unstatted?: (i: number) => boolean,
  pin?: RootPin,
): LstatColumns {
  const b = beneath();
  if (!b) return lstatColumns(paths, unstatted);
  const out = statColumns(rels.length);
  const asked = rels.map((r, i) => (unstatted?.(i) ? ((out.flags[i] = UNSTATTED), undefined) : r));
  let rootFd: number;
  try {
    rootFd = openRoot(top, pin);
  } catch (e) {
    // The location itself cannot be opened (an unplugged drive): each entry fails with why.
    asked.forEach(
      (r, i) =>
        r !== undefined &&
        statInto(out, i, () => {
          throw e;
        }),
    );
    return out;
  }
  try {
    // In one C call where it is built; the entries it could not read are lstat'ed again here, for their errors.
    const batch = lstatBatch();
    if (!batch) b.eachIn(rootFd, asked, (i, lstat) => statInto(out, i, lstat));
    else for (const i of batch(rootFd, asked, out)) statInto(out, i, (st) => b.lstat(rootFd, asked[i]!, st));
  } finally {
    closeRoot(rootFd);
  }
  return out;
}

/** A planned batch's entries as paths from its top, where the plan opened its folders from there. */
export function belowOf(batch: PlannedBatch): StatBelow | undefined {
  return batch.top === undefined
    ? undefined
    : { top: batch.top, rels: batch.items.map((i) => i.relFs!), pin: batch.pin };
}

/** A planned batch's lstat: below its top where the plan opened folders from there, else by path. */
export function statPlanned(batch: PlannedBatch, unstatted?: (i: number) => boolean): LstatColumns {
  const paths = batch.items.map((i) => i.fs);
  const below = belowOf(batch);
  return below ? lstatBelow(below.top, below.rels, paths, unstatted, below.pin) : lstatColumns(paths, unstatted);
}

/** Node's lstat into `out` (false when the path does not exist): where statx cannot be called. */
function nodeLstat(path: string | Buffer, out: RawStat): boolean {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return false;
  fromNodeStats(st, out);
  return true;
}

/** A walked entry as the projection's tuple (without its content id). */
export function tupleOf(key: string, w: WalkEntry): EntryTuple {
  const t = w.isSymlink ? SYMLINK : w.isDir ? DIR : w.special ? SPECIAL : FILE;
  return [
    key,
    t,
    t === SPECIAL ? 0 : w.size,
    Math.floor(w.mtimeMs),
    Number(w.inode),
    t === FILE ? kindOf(w.name) : t === DIR ? 'folder' : t === SPECIAL ? w.special! : 'symlink',
  ];
}
