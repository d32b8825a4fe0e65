// The filesystem side of a file operation: a plan is a list of primitive steps (move, copy,
// delete, mkdir) that commit runs in order and that crash recovery can inspect on disk. Every
// step acts through folders held open from its location root down (confine.ts), and first checks
// that what it acts on is still what the preview saw: E_PATH_CHANGED otherwise, nothing done.
import { constants as C, fchmodSync, mkdirSync, openSync, closeSync, renameSync } from 'node:fs';
import { SdError } from '../../errors.js';
import { userMode } from '../../fsutil.js';
import { fsPathOfAbs } from '../../jobs/names.js';
import { Dir, fsError, holdParent, withParent, withParentAsync } from './confine.js';
import type { Stamp } from './paths.js';
import { compareTree, scanTree, totals, type Item, type KnownIds } from './tree.js';
import { copyTree, removeTree } from './tree-write.js';
import type { Db } from '../../library/library.js';
import { SEP, toPath } from '../../projections/entries.js';
import type { ReadDb } from '../host.js';

export type { Item } from './tree.js';

export interface Manifest {
  files: number;
  bytes: number;
  items: Item[];
}

export interface TrashRecord {
  id: string;
  loc: string;
  orig: string;
  reason: 'removed' | 'overwritten';
}

export interface Step {
  k: 'move' | 'copy' | 'delete' | 'mkdir';
  from?: string;
  to?: string;
  /** The location roots the source and the destination are confined to. */
  fromRoot?: string;
  toRoot?: string;
  /** The source as the preview saw it: a step refuses to act on anything else. */
  stamp?: Stamp;
  /** Index side: where the source and destination live (null: not indexed, e.g. the trash). */
  fromLoc?: string | null;
  fromKey?: string;
  toLoc?: string | null;
  toKey?: string;
  /** A move that rename(2) cannot do (different filesystems): copy, verify, delete. */
  cross?: boolean;
  /** Moving into the trash: the record written with the events. */
  trash?: TrashRecord;
  /** Restoring or purging this trash item: its record is removed with the events. */
  untrash?: { id: string; loc: string };
  manifest?: Manifest;
}

/**
 * Every entry below (and including) a path, files with their content ids when `hash`. With `db`
 * and the path's location, a file whose size and mtime are what the index holds keeps the content
 * id the index has for it; only the others are hashed.
 */
export async function manifestOf(
  root: string,
  abs: string,
  hash = true,
  index?: { db: ReadDb; loc: string; key: string },
): Promise<Manifest> {
  const known = hash && index ? knownIds(index.db, index.loc, index.key) : undefined;
  const items = await withParentAsync(root, abs, (d, n) => scanTree(d, n, hash, known));
  return { ...totals(items), items };
}

function knownIds(db: ReadDb, loc: string, key: string): KnownIds {
  const rows = db
    .prepare(
      'SELECT key, size, mtime, cid FROM entries WHERE loc = ? AND t = 0 AND cid IS NOT NULL AND (key = ? OR (key > ? AND key < ?))',
    )
    .raw(true)
    .all(loc, key, key + SEP, key + '\u0002') as [string, number, number, string][];
  const byRel = new Map<string, [number, number, string]>();
  for (const [k, size, mtime, cid] of rows)
    byRel.set(k === key ? '' : toPath(k.slice(key.length + 1)), [size, mtime, cid]);
  return (rel, size, mtimeMs) => {
    const r = byRel.get(rel);
    return r && r[0] === size && r[1] === Math.floor(mtimeMs) ? r[2] : undefined;
  };
}

const typeOfStamp = (st: { isSymbolicLink(): boolean; isDirectory(): boolean }): number =>
  st.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : 0;

/** The source must be the object the preview saw (same type and inode). */
function checkSource(d: Dir, name: string, s: Step): void {
  const st = d.lstat(name);
  if (!st)
    throw new SdError('E_PATH_CHANGED', `${d.show(name)} is gone since the preview; nothing was done`, {
      path: d.show(name),
    });
  if (s.stamp && (s.stamp[0] !== typeOfStamp(st) || s.stamp[3] !== st.ino))
    throw new SdError(
      'E_PATH_CHANGED',
      `${d.show(name)} was replaced since the preview (${st.isSymbolicLink() ? 'by a symlink' : 'by another file or folder'}); nothing was done`,
      { path: d.show(name) },
    );
}

/** A folder of ours inside a location (the trash): mode 0700 whatever the umask; a link is refused. */
function privateSubdir(d: Dir, name: string): Dir {
  const st = d.lstat(name);
  if (st && !st.isDirectory())
    throw new SdError(
      'E_TRASH_NOT_A_FOLDER',
      `${d.show(name)} is ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'}; the trash must be a real folder inside the location: move it away`,
      { path: d.show(name) },
    );
  if (!st)
    try {
      mkdirSync(d.at(name), 0o700);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, d.show(name));
    }
  const sub = d.open(name);
  try {
    fchmodSync(sub.fd, 0o700);
  } catch (e) {
    sub.close();
    throw fsError(e, sub.shown);
  }
  return sub;
}

/** The folder a destination goes into: held open; the trash folders are created on the way. */
function holdDest(s: Step): { dir: Dir; name: string } {
  if (!s.trash) return holdParent(s.toRoot!, s.to!);
  const root = s.toRoot!;
  const rel = s.to!.slice(root.length + 1).split('/'); // [.vdfs-trash, id, name]
  let dir = Dir.root(fsPathOfAbs(root), root);
  try {
    for (const n of rel.slice(0, -1)) {
      const next = privateSubdir(dir, n);
      dir.close();
      dir = next;
    }
  } catch (e) {
    dir.close();
    throw e;
  }
  return { dir, name: rel[rel.length - 1]! };
}

function makeUserDir(d: Dir, name: string): void {
  try {
    mkdirSync(d.at(name), 0o700);
    const fd = openSync(d.at(name), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
    try {
      fchmodSync(fd, userMode(0o777));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw fsError(e, d.show(name));
  }
}

/** Runs one step. A failure leaves no partial destination behind (it is removed). */
export async function runStep(s: Step): Promise<void> {
  if (s.k === 'mkdir') return withParent(s.toRoot!, s.to!, (d, n) => makeUserDir(d, n));
  if (s.k === 'delete')
    return withParent(s.fromRoot!, s.from!, (d, n) => {
      if (s.untrash && !d.lstat(n)) return; // emptying a trash item that is already gone
      checkSource(d, n, s);
      removeTree(d, n);
    });
  const src = holdParent(s.fromRoot!, s.from!);
  try {
    checkSource(src.dir, src.name, s);
    const dst = holdDest(s);
    try {
      if (dst.dir.lstat(dst.name))
        throw new SdError('E_PATH_CHANGED', `${dst.dir.show(dst.name)} appeared since the preview; nothing was done`, {
          path: dst.dir.show(dst.name),
        });
      if (s.k === 'move' && !s.cross) {
        try {
          return renameSync(src.dir.at(src.name), dst.dir.at(dst.name));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw fsError(e, s.from!);
        }
      }
      await copyVerified(src.dir, src.name, dst.dir, dst.name, s);
      if (s.k === 'move') removeTree(src.dir, src.name);
    } finally {
      dst.dir.close();
    }
  } finally {
    src.dir.close();
  }
}

async function copyVerified(sd: Dir, sn: string, dd: Dir, dn: string, s: Step): Promise<void> {
  try {
    copyTree(sd, sn, dd, dn, s.k === 'move');
    if (s.manifest) {
      const bad = await compareTree(dd, dn, s.manifest.items);
      if (bad.length)
        throw new SdError(
          'E_COPY_VERIFY_FAILED',
          `the copy at ${dd.show(dn)} does not match its source: ${bad.slice(0, 3).join('; ')}`,
          { path: dd.show(dn), problems: bad.slice(0, 20) },
        );
    }
  } catch (e) {
    try {
      removeTree(dd, dn);
    } catch {
      // the original error says more; a leftover partial copy is reported by verify
    }
    throw e;
  }
}

export type StepState = 'done' | 'partial' | 'todo' | 'gone' | 'unsafe';

/** Whether a path is there, looked at through its held parent; null when it cannot be reached safely. */
function present(root: string | undefined, abs: string | undefined): boolean | null {
  if (!root || !abs) return false;
  try {
    return withParent(root, abs, (d, n) => !!d.lstat(n));
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_PATH_NOT_FOUND') return false;
    return null;
  }
}

async function completeCopy(root: string, to: string, m: Manifest | undefined): Promise<boolean> {
  try {
    const items = await withParentAsync(root, to, (d, n) => scanTree(d, n, false));
    const c = totals(items);
    return !m || (c.files === m.files && c.bytes === m.bytes);
  } catch {
    return false;
  }
}

/** Where a step stands on disk (for crash recovery); 'unsafe' when a path is not confined any more. */
export async function stepState(s: Step): Promise<StepState> {
  const from = present(s.fromRoot, s.from);
  const to = present(s.toRoot, s.to);
  if (from === null || to === null) return 'unsafe';
  switch (s.k) {
    case 'mkdir':
      return to ? 'done' : 'todo';
    case 'delete':
      return from ? ((await completeCopy(s.fromRoot!, s.from!, s.manifest)) ? 'todo' : 'partial') : 'done';
    case 'copy':
      return !to ? (from ? 'todo' : 'gone') : (await completeCopy(s.toRoot!, s.to!, s.manifest)) ? 'done' : 'partial';
    case 'move':
      // An overwritten destination set aside: the next step puts a new file at its old path.
      if (s.trash?.reason === 'overwritten' && to && (await completeCopy(s.toRoot!, s.to!, s.manifest))) return 'done';
      if (!from) return to ? 'done' : 'gone';
      return to ? 'partial' : 'todo';
  }
}

/** Brings a partial step to done: a complete copy finishes its move, an incomplete one is redone. */
export async function finishStep(s: Step, state: StepState): Promise<void> {
  if (state === 'todo') return runStep(s);
  if (state !== 'partial') return;
  if (s.k === 'delete') return withParent(s.fromRoot!, s.from!, (d, n) => removeTree(d, n));
  if (await completeCopy(s.toRoot!, s.to!, s.manifest)) {
    if (s.k === 'move') withParent(s.fromRoot!, s.from!, (d, n) => removeTree(d, n));
    return;
  }
  withParent(s.toRoot!, s.to!, (d, n) => removeTree(d, n));
  await runStep(s);
}
