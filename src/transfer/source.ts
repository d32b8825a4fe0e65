// The source side of a transfer: what a device may serve, its listing and its bytes. Paths are
// placed in this device's locations (real parent, no symlink on the way), listed and opened
// through held folders (confine.ts); a file is opened non-blocking without following a link and
// fstat-checked to be the regular file the listing saw, else E_SOURCE_CHANGED.
import { closeSync, constants as C, fstatSync, openSync, type Stats } from 'node:fs';
import { read, readSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { SdError } from '../errors.js';
import type { Library } from '../library/library.js';
import { fsPathOfAbs } from '../jobs/names.js';
import { Dir, fsError, holdParent, type Name } from '../ops/entry/confine.js';
import { place, TRASH_DIR } from '../ops/entry/paths.js';
import { list } from '../ops/entry/tree.js';
import type { ListedItem } from './protocol.js';

export const PARTIAL_DIR = '.vdfs-partial';
const MAX_ITEMS = 1_000_000;
const readAsync = promisify(read);
/** Reads up to this size are made with a blocking call. */
const SYNC_READ = 256 * 1024;
const serveOf = new WeakMap<Library['db'], ReturnType<Library['db']['prepare']>>();

export interface Served {
  abs: string;
  root: string;
  loc: string;
}

/** Whether this device's location serves its files to members (`--no-serve` turns it off). */
export function serves(lib: Library, loc: string): boolean {
  let q = serveOf.get(lib.db);
  if (!q) serveOf.set(lib.db, (q = lib.db.prepare('SELECT serve FROM location_sharing WHERE id = ?')));
  const r = q.get(loc) as { serve: number } | undefined;
  return r ? r.serve === 1 : true;
}

/**
 * Where a requested path is on this device, if it may be served: inside one of this device's
 * locations that serves (or inside a path granted to this peer by `sd send`), not in the trash or
 * a partial download, not the data dir. E_NOT_SERVED otherwise, with the reason.
 */
export function placeServed(lib: Library, self: string, path: string, granted?: string[]): Served {
  let p;
  try {
    p = place(lib.db, self, path, { allowRoot: true });
  } catch (e) {
    // A disk away is this device's to act on: the peer is told only that it is not there now.
    const why =
      e instanceof SdError && e.code === 'E_LOCATION_REPLACED'
        ? 'the disk or folder of its location is not in place on that device now'
        : e instanceof SdError
          ? e.message
          : String(e);
    throw new SdError('E_NOT_SERVED', `${path} is not served by this device: ${why}`, { path });
  }
  const top = p.rel.split('/')[0];
  if (top === TRASH_DIR || top === PARTIAL_DIR)
    throw new SdError('E_NOT_SERVED', `${path} is in the trash or a partial download`, { path });
  if (granted) {
    if (!granted.some((g) => p.abs === g || p.abs.startsWith(`${g}/`)))
      throw new SdError('E_NOT_SERVED', `${path} is not part of what was sent`, { path });
  } else if (!serves(lib, p.loc.id))
    throw new SdError('E_NOT_SERVED', `the location ${p.loc.path} is not served to other devices (--no-serve)`, {
      path,
    });
  return { abs: p.abs, root: p.loc.path, loc: p.loc.id };
}

/** Runs fn with the folder holding `abs` open; a location root is held through its parent. */
function withHeld<T>(s: Served, fn: (d: Dir, name: Name) => T): T {
  if (s.abs === s.root) {
    const parent = dirname(s.root);
    const d = Dir.root(fsPathOfAbs(parent), parent);
    try {
      return fn(d, basename(s.root));
    } finally {
      d.close();
    }
  }
  const { dir, name } = holdParent(s.root, s.abs);
  try {
    return fn(dir, name);
  } finally {
    dir.close();
  }
}

const itemOf = (rel: string, st: Stats): ListedItem => [
  rel,
  st.isDirectory() ? 1 : 0,
  st.isDirectory() ? 0 : st.size,
  st.mtimeMs,
  st.ino,
  st.mode & 0o7777,
];

/** Files and folders at and below a served path; symlinks and special files are skipped (counted). */
export function listServed(s: Served): { items: ListedItem[]; skipped: number } {
  return withHeld(s, (d, name) => {
    const st = d.lstat(name);
    if (!st) throw new SdError('E_PATH_NOT_FOUND', `${s.abs} does not exist`, { path: s.abs });
    if (!st.isFile() && !st.isDirectory())
      throw new SdError('E_NOT_A_FILE', `${s.abs} is not a regular file or folder`, { path: s.abs });
    const items: ListedItem[] = [itemOf('', st)];
    let skipped = 0;
    const visit = (dir: Dir, rel: string): void => {
      for (const e of list(dir)) {
        if (rel === '' && s.abs === s.root && (e.name === TRASH_DIR || e.name === PARTIAL_DIR)) continue;
        const est = dir.lstat(e.name);
        if (!est) continue;
        if (!est.isFile() && !est.isDirectory()) {
          skipped++;
          continue;
        }
        if (items.length >= MAX_ITEMS)
          throw new SdError('E_TOO_MANY_FILES', `${s.abs} holds more than ${MAX_ITEMS} entries`, { path: s.abs });
        const r = rel ? `${rel}/${e.name}` : e.name;
        items.push(itemOf(r, est));
        if (est.isDirectory()) {
          const sub = dir.open(e.name);
          try {
            visit(sub, r);
          } finally {
            sub.close();
          }
        }
      }
    };
    if (st.isDirectory()) {
      const top = d.open(name);
      try {
        visit(top, '');
      } finally {
        top.close();
      }
    }
    return { items, skipped };
  });
}

/** A served file held open for reading, checked against the version the listing saw. */
export class SourceFile {
  private constructor(
    readonly fd: number,
    readonly path: string,
    private readonly at: Stats,
  ) {}

  static open(s: Served, want: { size: number; mtime: number; ino: number }): SourceFile {
    const fd = withHeld(s, (d, name) => {
      try {
        return openSync(d.at(name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      } catch (e) {
        const err = fsError(e, s.abs);
        if (err instanceof SdError && (err.code === 'E_PATH_NOT_FOUND' || err.code === 'E_PATH_CHANGED'))
          throw new SdError('E_SOURCE_CHANGED', `${s.abs} is gone or replaced since it was listed`, { path: s.abs });
        throw err;
      }
    });
    let st: Stats;
    try {
      st = fstatSync(fd);
    } catch (e) {
      closeSync(fd);
      throw fsError(e, s.abs);
    }
    const f = new SourceFile(fd, s.abs, st);
    if (!st.isFile()) {
      f.close();
      throw new SdError('E_NOT_A_FILE', `${s.abs} is not a regular file`, { path: s.abs });
    }
    if (st.size !== want.size || st.mtimeMs !== want.mtime || st.ino !== want.ino) {
      f.close();
      throw new SdError('E_SOURCE_CHANGED', `${s.abs} changed since it was listed`, { path: s.abs });
    }
    return f;
  }

  get size(): number {
    return this.at.size;
  }

  /** E_SOURCE_CHANGED when the open file was written to (size, mtime or ctime moved). */
  checkUnchanged(): void {
    const st = fstatSync(this.fd);
    if (st.size !== this.at.size || st.mtimeMs !== this.at.mtimeMs || st.ctimeMs !== this.at.ctimeMs)
      throw new SdError('E_SOURCE_CHANGED', `${this.path} changed while it was being sent`, { path: this.path });
  }

  /** Exactly `length` bytes at `pos` (fewer only if the file shrank: E_SOURCE_CHANGED), into `buf` if given. */
  async read(pos: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    let done = 0;
    // A small read blocks: in the page cache that costs less than a round trip through the
    // thread pool (bench/transfer.ts, 10,000 files); big ones stay asynchronous.
    const small = length <= SYNC_READ;
    while (done < length) {
      const bytesRead = small
        ? readSync(this.fd, buf, done, length - done, pos + done)
        : (await readAsync(this.fd, buf, done, length - done, pos + done)).bytesRead;
      if (bytesRead === 0)
        throw new SdError('E_SOURCE_CHANGED', `${this.path} shrank while it was being sent`, { path: this.path });
      done += bytesRead;
    }
    return buf;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
  }
}
