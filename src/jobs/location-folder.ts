// A location's folder as this device last indexed it: its inode, birth time and device, and the
// boot it was seen in. Every new index job of the location must find that folder at its path.
// Otherwise the folder was replaced, or the disk that holds it is not mounted and its mount point
// is empty, and a rescan would take every entry out of the index (and off every paired device).
// Syncthing refuses a folder that lacks its `.stfolder` marker for the same reason; this writes
// nothing into the user's folder. Kept beside the jobs: this device's own state, never replicated.
import { lstatSync, readFileSync, type BigIntStats } from 'node:fs';
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { stmt } from '../projections/types.js';
import { toPath } from '../projections/entries.js';
import { fsPathOf } from './names.js';

/** A folder as found at a path: what is compared, as strings (checkpoints and the table keep them so). */
export interface FolderId {
  dev: string;
  ino: string;
  /** Nanoseconds; '0' where the filesystem does not record a birth time. */
  btime: string;
  /** The boot it was seen in; '' where the system does not say. */
  boot: string;
}

/** A database read through (a command's preview reads, a job writes). */
interface ReadDb {
  prepare(sql: string): {
    get(...params: unknown[]): unknown;
    raw(on?: boolean): { all(...params: unknown[]): unknown[] };
  };
}

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

export function folderIdOf(st: BigIntStats): FolderId {
  return { dev: String(st.dev), ino: String(st.ino), btime: String(st.birthtimeNs), boot: thisBoot() };
}

/**
 * Whether `now` is the folder `was` names. Its inode must match, and its birth time where both
 * have one (nanoseconds, set when the folder was made, never changed). A disk plugged in again may
 * come back under another device number (sdb, then sdc; or after a reboot): then the inode and a
 * birth time must match. `strict` (a job resumed from its checkpoint, whose every open must find
 * the folder it began with: root-pin.ts) takes another device number only from another boot.
 * Without a birth time, another device number is another folder.
 */
export function sameFolder(was: FolderId, now: FolderId, strict = false): boolean {
  if (was.ino !== now.ino) return false;
  const born = was.btime !== '0' && now.btime !== '0';
  if (born && was.btime !== now.btime) return false;
  if (was.dev === now.dev) return true;
  if (!born) return false;
  return !strict || (was.boot !== '' && now.boot !== '' && was.boot !== now.boot);
}

const TABLE = `CREATE TABLE IF NOT EXISTS location_folders (loc TEXT PRIMARY KEY, dev TEXT NOT NULL, ino TEXT NOT NULL,
  btime TEXT NOT NULL, boot TEXT NOT NULL, seen_at INTEGER NOT NULL)`;
export const LOCATION_FOLDERS_SCHEMA = `${TABLE};`;

/** The folder a location's last index job began with here, if one ran since this was kept. */
export function recordedFolder(db: ReadDb, loc: string): FolderId | undefined {
  return db.prepare('SELECT dev, ino, btime, boot FROM location_folders WHERE loc = ?').get(loc) as
    FolderId | undefined;
}

export function recordFolder(db: Database, loc: string, id: FolderId): void {
  stmt(
    db,
    `INSERT INTO location_folders (loc, dev, ino, btime, boot, seen_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (loc) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, btime = excluded.btime,
       boot = excluded.boot, seen_at = excluded.seen_at`,
  ).run(loc, id.dev, id.ino, id.btime, id.boot, Date.now());
}

export function forgetFolder(db: Database, loc: string): void {
  stmt(db, 'DELETE FROM location_folders WHERE loc = ?').run(loc);
}

/**
 * A new index job's check of the folder at a location's path (`now`) against the one kept for
 * it; throws E_LOCATION_REPLACED when it is not that folder. With `adopt` (the folder a user's
 * `--adopt` saw), only that folder is taken. Where the folder cannot be told by its birth time,
 * or none was kept (a location from before this check), an index that holds entries must find
 * one of its top-level entries there (name and inode): an empty mount point holds none.
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
  if (was && !sameFolder(was, now)) throw folderReplaced(loc);
  if (!was || now.btime === '0') {
    const top = db
      .prepare("SELECT key, inode FROM entries WHERE loc = ? AND parent = '' LIMIT 64")
      .raw(true)
      .all(loc.id) as [string, number | string][];
    if (top.length > 0 && !top.some(([key, ino]) => inodeAt(loc.path, key) === String(ino)))
      throw folderReplaced(loc, `none of the entries indexed at its top level (${top[0]![0]}...) is there`);
  }
}

function inodeAt(root: string, key: string): string | undefined {
  try {
    return String(lstatSync(fsPathOf(root, toPath(key)), { bigint: true }).ino);
  } catch {
    return undefined;
  }
}

export function folderReplaced(loc: { id: string; path: string }, why?: string): SdError {
  return new SdError(
    'E_LOCATION_REPLACED',
    `the folder at ${loc.path} is not the folder this location indexed (it was replaced, or the disk that holds it is not mounted${why ? `; ${why}` : ''}): nothing was read or changed. Mount the disk, or run \`sd location rescan ${loc.id.slice(0, 8)} --adopt\` to index the folder now at that path as this location`,
    { path: loc.path, location: loc.id },
  );
}
