// A location's folder as this device last indexed it: its inode, birth time and device, and the
// boot it was seen in. Every new index job of the location must find that folder at its path.
// Otherwise the folder was replaced, or the disk that holds it is not mounted and its mount point
// is empty, and a rescan would take every entry out of the index (and off every paired device).
// Syncthing refuses a folder that lacks its `.stfolder` marker for the same reason; this writes
// nothing into the user's folder. Kept beside the jobs: this device's own state, never replicated.
import { readFileSync, type BigIntStats } from 'node:fs';
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { stmt } from '../projections/types.js';

/** A folder as found at a path: what is compared, as strings (checkpoints and the table keep them so). */
export interface FolderId {
  dev: string;
  ino: string;
  /** Nanoseconds; '0' where the filesystem does not record a birth time. */
  btime: string;
  /** The boot it was seen in; '' where the system does not say. */
  boot: string;
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
 * Whether `now` is the folder `was` names. Within one boot, its device and inode must match (as
 * every open inside a job must: root-pin.ts). A removable disk may come back after a reboot under
 * another device number: then the inode and a recorded birth time (nanoseconds, set when the
 * folder was made and never changed) must match. Without a birth time, a new device number is
 * not taken for the same folder.
 */
export function sameFolder(was: FolderId, now: FolderId): boolean {
  if (was.ino !== now.ino) return false;
  const born = was.btime !== '0' && now.btime !== '0';
  if (born && was.btime !== now.btime) return false;
  if (was.dev === now.dev) return true;
  return born && was.boot !== '' && now.boot !== '' && was.boot !== now.boot;
}

const TABLE = `CREATE TABLE IF NOT EXISTS location_folders (loc TEXT PRIMARY KEY, dev TEXT NOT NULL, ino TEXT NOT NULL,
  btime TEXT NOT NULL, boot TEXT NOT NULL, seen_at INTEGER NOT NULL)`;
export const LOCATION_FOLDERS_SCHEMA = `${TABLE};`;

/** The folder a location's last index job began with here, if one ran since this was kept. */
export function recordedFolder(
  db: { prepare(sql: string): { get(...params: unknown[]): unknown } },
  loc: string,
): FolderId | undefined {
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
 * A new index job's check of the folder at a location's path against the one its last job began
 * with (none kept yet: it is kept now). With `adopt`, the folder there now becomes the location's.
 */
export function keepFolder(db: Database, loc: { id: string; path: string }, now: FolderId, adopt: boolean): void {
  const was = recordedFolder(db, loc.id);
  if (was && !adopt && !sameFolder(was, now)) throw folderReplaced(loc);
  // Kept as found now: a disk back under another device number is compared by this one next time.
  recordFolder(db, loc.id, now);
}

export function folderReplaced(loc: { id: string; path: string }): SdError {
  return new SdError(
    'E_LOCATION_REPLACED',
    `the folder at ${loc.path} is not the folder this location indexed (it was replaced, or the disk that holds it is not mounted): nothing was read or changed. Mount the disk, or run \`sd location rescan ${loc.id.slice(0, 8)} --adopt\` to index the folder now at that path as this location`,
    { path: loc.path, location: loc.id },
  );
}
