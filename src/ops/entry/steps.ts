// The filesystem side of a file operation: a plan is a list of primitive steps (move, copy,
// delete, mkdir) that commit runs in order and that crash recovery can inspect on disk.
import { cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { SdError } from '../../errors.js';
import { createContentHasher, type ContentHasher } from '../../jobs/content-id.js';
import { kindOf } from '../../jobs/kind.js';
import { walkSync } from '../../jobs/walk.js';
import { lstat } from './paths.js';

/** [relPath ('' = the root), t, size, mtimeMs, contentId | null, kind] */
export type Item = [string, number, number, number, string | null, string];

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
  untrash?: string;
  manifest?: Manifest;
}

let hasherP: Promise<ContentHasher> | undefined;
export const hasher = (): Promise<ContentHasher> => (hasherP ??= createContentHasher());

/** Every entry below (and including) a path, files with their content ids. */
export function manifestOf(h: ContentHasher, root: string): Manifest {
  const st = lstat(root);
  if (!st) throw new SdError('E_PATH_NOT_FOUND', `${root} does not exist`, { path: root });
  const items: Item[] = [];
  const add = (rel: string, path: string, name: string, t: number, size: number, mtimeMs: number): void => {
    if (t !== 0) return void items.push([rel, t, 0, Math.floor(mtimeMs), null, t === 1 ? 'folder' : 'symlink']);
    const id = h.identify(path);
    items.push([rel, 0, id.size, Math.floor(mtimeMs), id.contentId, kindOf(name, id.head)]);
  };
  const name = root.slice(root.lastIndexOf('/') + 1);
  add('', root, name, st.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : 0, st.size, st.mtimeMs);
  if (st.isDirectory()) {
    for (const b of walkSync(root, { skipHidden: false, skipNames: [] })) {
      if (b.errors.length)
        throw new SdError('E_UNREADABLE', `${root}/${b.errors[0]!.path} cannot be read: ${b.errors[0]!.message}`, {
          path: `${root}/${b.errors[0]!.path}`,
        });
      for (const e of b.entries)
        add(e.relPath, `${root}/${e.relPath}`, e.name, e.isSymlink ? 2 : e.isDir ? 1 : 0, e.size, e.mtimeMs);
    }
  }
  const files = items.filter((i) => i[1] === 0);
  return { files: files.length, bytes: files.reduce((s, i) => s + i[2], 0), items };
}

/** Files and bytes under a path now (no hashing): enough to tell a complete copy from a partial one. */
export function countTree(root: string): { files: number; bytes: number } | null {
  const st = lstat(root);
  if (!st) return null;
  if (!st.isDirectory()) return st.isFile() ? { files: 1, bytes: st.size } : { files: 0, bytes: 0 };
  let files = 0;
  let bytes = 0;
  for (const b of walkSync(root, { skipHidden: false, skipNames: [] })) {
    for (const e of b.entries) {
      if (!e.isDir && !e.isSymlink) {
        files++;
        bytes += e.size;
      }
    }
  }
  return { files, bytes };
}

/** Differences between a manifest and what is on disk now, as sentences naming the paths. */
export function compareTree(h: ContentHasher, root: string, m: Manifest): string[] {
  const out: string[] = [];
  for (const [rel, t, size, , cid] of m.items) {
    const p = rel === '' ? root : `${root}/${rel}`;
    const st = lstat(p);
    if (!st) out.push(`${p} is missing`);
    else if (t === 0) {
      if (!st.isFile()) out.push(`${p} is no longer a file`);
      else if (st.size !== size) out.push(`${p} has ${st.size} bytes, expected ${size}`);
      else if (cid && h.identify(p).contentId !== cid) out.push(`${p} has different content (content id changed)`);
    } else if (t === 1 && !st.isDirectory()) out.push(`${p} is no longer a folder`);
  }
  return out;
}

const completeCopy = (to: string, m: Manifest | undefined): boolean => {
  const c = countTree(to);
  return !!c && (!m || (c.files === m.files && c.bytes === m.bytes));
};

/** Runs one step. A failure leaves no partial destination behind (it is removed). */
export async function runStep(s: Step): Promise<void> {
  const { from, to } = s;
  if (s.k === 'mkdir') return void mkdirSync(to!);
  if (s.k === 'delete') return void rmSync(from!, { recursive: true, force: true });
  mkdirSync(dirname(to!), { recursive: true });
  if (s.k === 'move') {
    try {
      renameSync(from!, to!);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    }
  }
  try {
    cpSync(from!, to!, {
      recursive: true,
      errorOnExist: true,
      force: false,
      verbatimSymlinks: true,
      preserveTimestamps: s.k === 'move',
    });
    if (s.manifest) {
      const bad = compareTree(await hasher(), to!, s.manifest);
      if (bad.length)
        throw new SdError(
          'E_COPY_VERIFY_FAILED',
          `the copy at ${to} does not match its source: ${bad.slice(0, 3).join('; ')}`,
          { path: to, problems: bad.slice(0, 20) },
        );
    }
  } catch (e) {
    rmSync(to!, { recursive: true, force: true });
    throw e;
  }
  if (s.k === 'move') rmSync(from!, { recursive: true, force: true });
}

export type StepState = 'done' | 'partial' | 'todo' | 'gone';

/** Where a step stands on disk (for crash recovery). */
export function stepState(s: Step): StepState {
  const from = s.from ? !!lstat(s.from) : false;
  const to = s.to ? !!lstat(s.to) : false;
  switch (s.k) {
    case 'mkdir':
      return to ? 'done' : 'todo';
    case 'delete':
      return from ? (s.manifest && completeCopy(s.from!, s.manifest) ? 'todo' : 'partial') : 'done';
    case 'copy':
      return !to ? (from ? 'todo' : 'gone') : completeCopy(s.to!, s.manifest) ? 'done' : 'partial';
    case 'move':
      // An overwritten destination set aside: the next step puts a new file at its old path.
      if (s.trash?.reason === 'overwritten' && to && completeCopy(s.to!, s.manifest)) return 'done';
      if (!from) return to ? 'done' : 'gone';
      return to ? 'partial' : 'todo';
  }
}

/** Brings a partial step to done: a complete copy finishes its move, an incomplete one is redone. */
export async function finishStep(s: Step, state: StepState): Promise<void> {
  if (state === 'todo') return runStep(s);
  if (state !== 'partial') return;
  if (s.k === 'delete') return void rmSync(s.from!, { recursive: true, force: true });
  if (completeCopy(s.to!, s.manifest)) {
    if (s.k === 'move') rmSync(s.from!, { recursive: true, force: true });
    return;
  }
  rmSync(s.to!, { recursive: true, force: true });
  await runStep(s);
}
