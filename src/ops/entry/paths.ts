// User paths for file operations: validated (NUL, relative, too long), resolved through the
// real path of their parent (so `..` and symlinks cannot escape), and placed in a location.
// Paths are strings in which a name that is not valid UTF-8 has its escaped form (names.ts);
// every fs call gets the raw bytes back (fsPathOfAbs).
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { SdError } from '../../errors.js';
import { openDataDirs } from '../../fsutil.js';
import type { Db } from '../../library/library.js';
import { toPath } from '../../projections/entries.js';
import type { WalkRules } from '../../jobs/walk.js';
import { ruleSkipper } from '../../jobs/walk-rules.js';
import { checkLocationFolder } from '../../jobs/location-folder.js';
import { decodeName, encodeName, encodePath, fsPathOfAbs } from '../../jobs/names.js';
import { fsError } from './confine.js';
import { locate } from './queries.js';
import type { ReadDb } from '../host.js';

export const TRASH_DIR = '.vdfs-trash';
const NAME_MAX = 255;
const PATH_MAX = 4096;

export interface Place {
  /** Absolute path with a real (symlink-free) parent. */
  abs: string;
  loc: { id: string; path: string; rules: WalkRules };
  key: string;
  rel: string;
}

/** [t, size, mtimeMs, inode] of a path as it is now; null when absent. */
export type Stamp = [number, number, number, number] | null;

export function stampOf(st: Stats | undefined): Stamp {
  if (!st) return null;
  const t = st.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : 0;
  return [t, t === 1 ? 0 : st.size, st.mtimeMs, st.ino];
}

export function lstat(p: string): Stats | undefined {
  try {
    return lstatSync(fsPathOfAbs(p), { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw fsError(e, p);
  }
}

/** A path's bytes in a name (escaped names count as their raw bytes). */
const nameBytes = (n: string): number => decodeName(n).length;

/** Refuses what no file operation should accept, naming the offending path. */
export function checkRawPath(p: string): void {
  if (p.includes('\0'))
    throw new SdError('E_BAD_PATH', `the path contains a NUL byte: ${JSON.stringify(p)}`, { path: p });
  if (!isAbsolute(p))
    throw new SdError(
      'E_BAD_PATH',
      `the path must be absolute (the CLI resolves it against its working folder): ${p}`,
      { path: p },
    );
  if (Buffer.byteLength(p) > PATH_MAX)
    throw new SdError('E_PATH_TOO_LONG', `the path is longer than ${PATH_MAX} bytes: ${p.slice(0, 80)}...`, {
      path: p,
    });
  for (const part of p.split(sep)) {
    if (nameBytes(part) > NAME_MAX)
      throw new SdError('E_NAME_TOO_LONG', `a name in the path is longer than ${NAME_MAX} bytes: ${p}`, { path: p });
  }
}

export function checkName(name: string): void {
  if (name.includes('\0') || name.includes('/') || name === '.' || name === '..' || name === '') {
    throw new SdError('E_BAD_PATH', `not a valid file name: ${JSON.stringify(name)}`, { path: name });
  }
  if (nameBytes(name) > NAME_MAX)
    throw new SdError('E_NAME_TOO_LONG', `the name is longer than ${NAME_MAX} bytes: ${name.slice(0, 80)}...`, {
      path: name,
    });
}

/**
 * Where a path really is: its parent folder's real path (symlinks resolved) joined with its
 * name, inside one of this device's locations; E_PATH_OUTSIDE_LOCATION otherwise.
 */
export function place(
  db: ReadDb,
  dev: string,
  p: string,
  opts: { allowRoot?: boolean; allowTrash?: boolean } = {},
): Place {
  checkRawPath(p);
  const lexical = resolve(p);
  let parent: string;
  try {
    parent = encodePath(realpathSync.native(fsPathOfAbs(dirname(lexical)), { encoding: 'buffer' }));
  } catch {
    // A missing parent is not an escape; say where it is missing.
    locateOrThrow(db, dev, lexical);
    throw new SdError('E_PATH_NOT_FOUND', `the folder ${dirname(lexical)} does not exist`, { path: dirname(lexical) });
  }
  const name = basename(lexical);
  const abs = lexical === '/' ? '/' : join(parent, name);
  const hit = locateOrThrow(db, dev, abs, p);
  for (const d of openDataDirs())
    if (isInside(abs, d) || isInside(d, abs))
      throw new SdError(
        'E_DATA_DIR',
        `${abs} ${abs === d ? 'is' : isInside(abs, d) ? 'is inside' : 'contains'} the data dir ${d} of this daemon; file operations never touch it`,
        { path: abs, dataDir: d },
      );
  if (hit.key === '' && !opts.allowRoot)
    throw new SdError('E_LOCATION_ROOT', `${abs} is the root of a location; remove the location instead`, {
      path: abs,
    });
  const rel = toPath(hit.key);
  if (!opts.allowTrash && rel.split('/')[0] === TRASH_DIR)
    throw new SdError('E_IN_TRASH', `${abs} is in the trash; use \`sd trash restore\``, { path: abs });
  const row = db.prepare('SELECT rules FROM locations WHERE id = ?').get(hit.loc.id) as { rules: string };
  // Not into a folder put at the location's path, or an empty mount point (location-folder.ts):
  // the operation's own re-index would then take the location's entries out of the index.
  checkLocationFolder(db, hit.loc);
  return {
    abs,
    loc: { id: hit.loc.id, path: hit.loc.path, rules: JSON.parse(row.rules) as WalkRules },
    key: hit.key,
    rel,
  };
}

function locateOrThrow(
  db: ReadDb,
  dev: string,
  abs: string,
  given = abs,
): { loc: { id: string; path: string }; key: string } {
  try {
    return locate(db, abs, dev);
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_PATH_OUTSIDE_LOCATION') {
      throw new SdError(
        'E_PATH_OUTSIDE_LOCATION',
        `${given} is not inside any location of this library${given !== abs ? ` (it resolves to ${abs})` : ''}`,
        { path: given, resolved: abs },
      );
    }
    throw e;
  }
}

/** Would the indexer (with the location's rules) index this relative path? */
export function indexable(rules: WalkRules, rel: string): boolean {
  return rel !== '' && !ruleSkipper(rules)(rel);
}

export const isInside = (child: string, parent: string): boolean =>
  child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/** "name (1).ext", "name (2).ext"... the first that does not exist; a long stem is cut to fit 255 bytes. */
export function freeName(dir: string, name: string, taken: Set<string>): string {
  const raw = decodeName(name);
  const dot = raw.lastIndexOf(0x2e);
  const [stem, ext] =
    dot > 0 && raw.length - dot < 64 ? [raw.subarray(0, dot), raw.subarray(dot)] : [raw, Buffer.alloc(0)];
  for (let i = 1; i < 10_000; i++) {
    const suffix = Buffer.from(` (${i})`);
    let s = stem.subarray(0, Math.min(stem.length, NAME_MAX - suffix.length - ext.length));
    // Cut at a character boundary when the stem is UTF-8: drop a split sequence's bytes.
    if (s.length < stem.length) {
      let j = s.length;
      while (j > 0 && (s[j - 1]! & 0xc0) === 0x80) j--;
      if (j > 0 && s[j - 1]! >= 0xc0) s = s.subarray(0, j - 1);
    }
    const p = join(dir, encodeName(Buffer.concat([s, suffix, ext])));
    if (!lstat(p) && !taken.has(p)) return p;
  }
  throw new SdError('E_CONFLICT', `no free name for ${join(dir, name)}`);
}
