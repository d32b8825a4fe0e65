// A location's folder as this device added it or last indexed it: its inode, birth time, device,
// the boot it was seen in, its kind of filesystem, and whether it was the root of a mount. Every
// new index job of the location, and every file operation and transfer into it, must find that
// folder at its path. Otherwise the folder was replaced, or the disk that holds it is not mounted
// and its mount point is bare, and a rescan would take every entry out of the index (and off every
// paired device). Syncthing refuses a folder that lacks its `.stfolder` marker for the same
// reason; this writes nothing into the user's folder. Kept beside the jobs: this device's own
// state, never replicated.
import { lstatSync, opendirSync, readFileSync, statfsSync, statSync, type BigIntStats } from 'node:fs';
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { stmt } from '../projections/types.js';
import { encodeName } from './names.js';

/**
 * A folder as found at a path, as strings (checkpoints and the table keep them so). '' is "not
 * known" (a job checkpointed before it was kept), never a value.
 */
export interface FolderId {
  dev: string;
  ino: string;
  /** Nanoseconds; '0' where the filesystem does not record a birth time. */
  btime: string;
  /** The boot it was seen in. */
  boot: string;
  /** The filesystem's kind (statfs f_type). */
  fs: string;
  /** '1' where the folder is the root of a mount (another device than its parent's), '0' where not. */
  mount: string;
}

/** A database read through (a command's preview reads, a job writes). */
interface ReadDb {
  prepare(sql: string): {
    get(...params: unknown[]): unknown;
    raw(on?: boolean): { all(...params: unknown[]): unknown[] };
  };
}

/**
 * Filesystems whose inode numbers are made up at each mount (FAT, exFAT; FUSE ones may be):
 * a folder there cannot be told by its inode.
 */
const UNSTABLE_INODES = new Set([0x4d44, 0x2011bab0, 0x65735546].map(String));

let bootId: string | undefined;

/** This boot's id (Linux), or '' where there is none to read. */
export function thisBoot(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = '';
    }
  }
  return bootId;
}

/** The folder `st` was read from at `path` (followed through a symlink, as a root is opened). */
export function folderIdOf(st: BigIntStats, path: string | Buffer): FolderId {
  let fs = '';
  let mount = '';
  try {
    fs = String(statfsSync(path).type);
    // The folder's own parent, as the kernel finds it (`..` of a symlink's target is the target's).
    const up = statSync(typeof path === 'string' ? `${path}/..` : Buffer.concat([path, Buffer.from('/..')]), {
      bigint: true,
    });
    mount = up.dev !== st.dev || up.ino === st.ino ? '1' : '0';
  } catch {
    // unknown: not compared
  }
  return { dev: String(st.dev), ino: String(st.ino), btime: String(st.birthtimeNs), boot: thisBoot(), fs, mount };
}

/** The folder at a location's path now, or undefined where there is none it can read (its own error elsewhere). */
export function folderAt(path: string): FolderId | undefined {
  let st;
  try {
    st = statSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // unreadable (EACCES, ELOOP...): the caller's own open says why
  }
  return st?.isDirectory() ? folderIdOf(st, path) : undefined;
}

const known = (v: string): boolean => v !== '';

/**
 * Whether `now` is the folder `was` names:
 * - the same kind of filesystem, and still the root of a mount if it was one (a disk not mounted
 *   leaves its bare mount point, on the filesystem above);
 * - the same birth time where either has one (a filesystem does not gain or lose them);
 * - the same inode, where the filesystem keeps inodes across mounts;
 * - the same device, or another one (a disk plugged in again as sdc, or after a reboot) when the
 *   birth time matches, or where inodes cannot tell. `strict` (a job resumed from its checkpoint,
 *   whose every open must find the folder it began with: root-pin.ts) takes another device only
 *   from another boot.
 */
export function sameFolder(was: FolderId, now: FolderId, strict = false): boolean {
  if (known(was.fs) && known(now.fs) && was.fs !== now.fs) return false;
  if (was.mount === '1' && now.mount === '0') return false;
  if (known(was.btime) && known(now.btime) && was.btime !== now.btime) return false;
  const inodes = !UNSTABLE_INODES.has(now.fs);
  if (inodes && was.ino !== now.ino) return false;
  if (was.dev === now.dev) return true;
  const born = known(was.btime) && was.btime !== '0' && was.btime === now.btime;
  if (!born && inodes) return false;
  return !strict || (known(was.boot) && known(now.boot) && was.boot !== now.boot);
}

const TABLE = `CREATE TABLE IF NOT EXISTS location_folders (loc TEXT PRIMARY KEY, dev TEXT NOT NULL, ino TEXT NOT NULL,
  btime TEXT NOT NULL, boot TEXT NOT NULL, fs TEXT NOT NULL, mount TEXT NOT NULL, seen_at INTEGER NOT NULL)`;
export const LOCATION_FOLDERS_SCHEMA = `${TABLE};`;

/** The folder a location was added with, or its last index job began with. */
export function recordedFolder(db: ReadDb, loc: string): FolderId | undefined {
  return stmt(db, 'SELECT dev, ino, btime, boot, fs, mount FROM location_folders WHERE loc = ?').get(loc) as
    FolderId | undefined;
}

export function recordFolder(db: Database, loc: string, id: FolderId): void {
  stmt(
    db,
    `INSERT INTO location_folders (loc, dev, ino, btime, boot, fs, mount, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (loc) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, btime = excluded.btime,
       boot = excluded.boot, fs = excluded.fs, mount = excluded.mount, seen_at = excluded.seen_at`,
  ).run(loc, id.dev, id.ino, id.btime, id.boot, id.fs, id.mount, Date.now());
}

export function forgetFolder(db: Database, loc: string): void {
  stmt(db, 'DELETE FROM location_folders WHERE loc = ?').run(loc);
}

/**
 * The check of the folder at a location's path (`now`) against the one kept for it; throws
 * E_LOCATION_REPLACED when it is not that folder. With `adopt` (the folder a user's `--adopt`
 * saw), only that folder is taken. A location from before folders were kept must hold one of
 * the entries indexed at its top level: an empty mount point holds none.
 */
export function checkFolder(
  db: ReadDb,
  loc: { id: string; path: string },
  now: FolderId,
  adopt: FolderId | undefined,
): void {
  if (adopt) {
    if (!sameFolder(adopt, now, true)) throw folderReplaced(loc, 'it is not the folder `--adopt` was shown');
    return;
  }
  const was = recordedFolder(db, loc.id);
  if (was) {
    if (!sameFolder(was, now)) throw folderReplaced(loc);
  } else if (!holdsIndexed(db, loc, now))
    throw folderReplaced(loc, 'none of the entries indexed at its top level is there');
}

/**
 * checkFolder of the folder at a location's path now, for a file operation or a transfer into it;
 * no folder there is left to the operation's own error.
 */
export function checkLocationFolder(db: ReadDb, loc: { id: string; path: string }): void {
  const now = folderAt(loc.path);
  if (now) checkFolder(db, loc, now, undefined);
}

/** How many names of the folder, and of the index's top level, the check of a location from before reads. */
const SAMPLE = 256;
const LOST_FOUND = Buffer.from('lost+found');

/**
 * Whether the folder holds one of the entries the index holds at its top level: by inode (a
 * rename keeps it), or by name where the filesystem's inodes are made up at each mount. Every
 * ext filesystem's `lost+found` has inode 11: it tells nothing.
 */
function holdsIndexed(db: ReadDb, loc: { id: string; path: string }, now: FolderId): boolean {
  const top = stmt(db, `SELECT name, inode FROM entries WHERE loc = ? AND parent = '' LIMIT ${SAMPLE}`)
    .raw(true)
    .all(loc.id) as [string, number][];
  if (top.length === 0) return true;
  const byInode = !UNSTABLE_INODES.has(now.fs);
  const indexed = new Set<string | number>(top.map(([name, ino]) => (byInode ? ino : name)));
  let dir;
  try {
    // Names as bytes: one that is not UTF-8 is found (and named as the index names it) all the same.
    // (Node's Dir takes 'buffer' as readdir does; its type names string encodings only.)
    dir = opendirSync(loc.path, { encoding: 'buffer' as BufferEncoding });
  } catch {
    return true; // it cannot be read: the job's own error says so
  }
  const base = Buffer.from(`${loc.path}/`);
  try {
    for (let i = 0; i < SAMPLE; i++) {
      const e = dir.readSync();
      if (!e) return false;
      const raw = e.name as unknown as Buffer;
      if (raw.equals(LOST_FOUND)) continue;
      if (!byInode) {
        if (indexed.has(encodeName(raw))) return true;
        continue;
      }
      const st = lstatSync(Buffer.concat([base, raw]), { bigint: true, throwIfNoEntry: false });
      if (st && indexed.has(Number(st.ino))) return true;
    }
    return false;
  } finally {
    dir.closeSync();
  }
}

export function folderReplaced(loc: { id: string; path: string }, why?: string): SdError {
  return new SdError(
    'E_LOCATION_REPLACED',
    `the folder at ${loc.path} is not the folder this location indexed (it was replaced, or the disk that holds it is not mounted${why ? `; ${why}` : ''}): nothing was read or changed. Mount the disk, or run \`sd location rescan ${loc.id.slice(0, 8)} --adopt\` to index the folder now at that path as this location`,
    { path: loc.path, location: loc.id },
  );
}
