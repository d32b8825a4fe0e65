// Listing one folder of a walk, sorted by name with entry types: by path, or below the location's
// root through the folder opened without following a symlink (beneath.ts); and the path forms a
// walk joins and cuts (walk-plan.ts plans from these listings).
import { closeSync, constants as fsConstants, openSync, readdirSync } from 'node:fs';
import type { Dirent, Stats } from 'node:fs';
import { ESCAPE_MARK, encodeName } from './names.js';
import type { Beneath } from './beneath.js';
import { listFolder } from './walk-batch.js';

const SLASH = Buffer.from('/');

export function join(dir: string | Buffer, name: string, raw: Buffer | undefined): string | Buffer {
  if (raw === undefined && typeof dir === 'string') return dir === '/' ? `/${name}` : `${dir}/${name}`;
  const d = typeof dir === 'string' ? Buffer.from(dir) : dir;
  if (d.length === 1 && d[0] === SLASH[0]) return Buffer.concat([d, raw ?? Buffer.from(name)]);
  return Buffer.concat([d, SLASH, raw ?? Buffer.from(name)]);
}

export interface Listing {
  names: string[];
  types: Uint8Array;
  raw: Map<string, Buffer> | undefined;
}

/** Entry types from a listing (d_type). */
export const OTHER = 0;
export const DIR = 1;
export const LINK = 2;
export const UNKNOWN = 3;
export const REGULAR = 4;

/** An entry's type from its listing (d_type), or from its lstat. */
export function typeOf(d: Dirent<string> | Dirent<Buffer> | Stats): number {
  if (d.isFile()) return REGULAR;
  if (d.isDirectory()) return DIR;
  if (d.isSymbolicLink()) return LINK;
  if (d.isFIFO() || d.isSocket() || d.isBlockDevice() || d.isCharacterDevice()) return OTHER;
  return UNKNOWN;
}

// Lists a folder with entry types, sorted by name; names are re-read as bytes only when one does
// not round-trip through UTF-8.
/**
 * Lists a folder (by path, or below the root through the folder opened without following a
 * symlink, beneath.ts) and gives `then` the path its listing was read through, to read more of
 * that same folder (its .gitignore) before it is closed.
 */
export function listDir<T>(
  fsPath: string | Buffer,
  below: Below | undefined,
  then: (l: Listing, at: string | Buffer) => T,
): T {
  if (!below) return then(listPath(fsPath), fsPath);
  const list = (through: string): Listing => {
    try {
      return listPath(through);
    } catch (e) {
      throw shownAs(e, through, fsPath);
    }
  };
  // The root itself: listed through its own descriptor (opening '.' below it would also ask for
  // search permission, which listing a folder does not need). Each folder is read through its
  // descriptor in one C call where it can be (walk-batch.ts), else by its /proc entry.
  if (below.rel === '.') {
    const self = `/proc/self/fd/${below.rootFd}`;
    return then(listCopy(self) ?? list(self), self);
  }
  const { fd, path } = below.b.openFolder!(below.rootFd, below.rel);
  try {
    return then(listFd(fd) ?? list(path), path);
  } finally {
    below.b.close(fd);
  }
}

/**
 * An error about a folder read through `through` (its /proc/self/fd entry) that names it as the
 * user knows it, `as`: a user reading `sd job info` has no use for a descriptor's number.
 */
export function shownAs(e: unknown, through: string | Buffer, as: string | Buffer): unknown {
  if (e instanceof Error && typeof through === 'string' && e.message.includes(through)) {
    e.message = e.message.split(through).join(String(as));
    if ((e as { path?: unknown }).path === through) (e as { path?: unknown }).path = String(as);
  }
  return e;
}

export const LEADING_SLASHES = /^\/+/;

export function dropLeadingSlashes(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0x2f) i++;
  return b.subarray(i);
}

/** A path without trailing slashes (but `/` itself). */
export function trimSlashes(p: string | Buffer): string | Buffer {
  let n = p.length;
  const at = (i: number): number => (typeof p === 'string' ? p.charCodeAt(i) : p[i]!);
  while (n > 1 && at(n - 1) === 0x2f) n--;
  return n === p.length ? p : typeof p === 'string' ? p.slice(0, n) : p.subarray(0, n);
}

/** A folder of the walk opened below the location's root (`rel`: its path from there, in fs form). */
export interface Below {
  b: Beneath;
  rootFd: number;
  rel: string | Buffer;
}

/**
 * The folder at `self` (a /proc/self/fd entry) listed in one C call through a copy of that
 * descriptor with its own position (the original's may be shared), or undefined: then by its path.
 */
function listCopy(self: string): Listing | undefined {
  if (!listFolder()) return undefined;
  let copy: number;
  try {
    copy = openSync(self, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  } catch {
    return undefined; // listed by its path, which gives the error
  }
  try {
    return listFd(copy);
  } finally {
    closeSync(copy);
  }
}

/** The folder open on `fd` listed in one C call, or undefined: then by its path (see walk-batch.ts listFolder). */
function listFd(fd: number): Listing | undefined {
  const l = listFolder()?.(fd);
  return (
    l &&
    sortedListing(
      l.names.map((n, i) => [n, l.types[i]!]),
      undefined,
    )
  );
}

function listPath(fsPath: string | Buffer): Listing {
  const dirents = readdirSync(fsPath, { withFileTypes: true });
  let raw: Map<string, Buffer> | undefined;
  let named: Array<[string, number]>;
  if (!dirents.some((d) => d.name.includes(ESCAPE_MARK))) {
    named = dirents.map((d) => [d.name, typeOf(d)]);
  } else {
    raw = new Map();
    named = [];
    for (const d of readdirSync(fsPath, { withFileTypes: true, encoding: 'buffer' })) {
      const n = encodeName(d.name);
      if (n.startsWith(ESCAPE_MARK)) raw.set(n, d.name);
      named.push([n, typeOf(d)]);
    }
  }
  return sortedListing(named, raw);
}

function sortedListing(named: Array<[string, number]>, raw: Map<string, Buffer> | undefined): Listing {
  named.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const types = new Uint8Array(named.length);
  const names = named.map(([n, t], i) => ((types[i] = t), n));
  return { names, types, raw };
}
