// Opening a library database: the file, its cipher key, the pragmas every connection of ours
// uses, the library format check and the schema migrations. Nothing here knows about events,
// documents or commands: the Library composes this store with the log and the shared documents.
import Database from 'better-sqlite3-multiple-ciphers';
import { chmodSync, existsSync } from 'node:fs';
import { SdError } from '../errors.js';
import { decodeEvent } from '../events/codec.js';
import { applyKey } from './cipher.js';
import { migrate } from './schema.js';
import { isDiskFull } from '../disk.js';

export type Db = Database.Database;

/** Library format 2: device-bound library and location ids, a roster with admins, a refused-events table. */
export const LIBRARY_FORMAT = 2;

/**
 * Bytes per page of a library database: SQLite's default. 16 KiB pages stored a replicated batch
 * ~10% faster (fewer frames and system calls), but every unit of work inside a group copies each
 * page it first touches into its savepoint's journal, and a commit of one event writes whole pages:
 * one command's commit took twice as long (1,698-2,349 against 3,452-3,648 events/s), so they
 * were tried for a session and dropped.
 */
export const PAGE_SIZE = 4_096;

/** Bytes of log after which the writing connection copies it back itself (see checkpoint.ts). */
export const WRITER_CHECKPOINT_BYTES = 64 << 20;

/** The format its creation event declares, or undefined for a database with no events yet. */
function libraryFormat(db: Db): number | undefined {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get()) return undefined;
  const rows = db.prepare("SELECT bytes FROM events WHERE seq = 1 AND type = 'library.created'").all() as {
    bytes: Buffer;
  }[];
  if (rows.length === 0) return undefined;
  const v = rows.map((r) => {
    try {
      return (decodeEvent(r.bytes).body as { v?: unknown }).v;
    } catch {
      return undefined;
    }
  });
  return v.includes(LIBRARY_FORMAT) ? LIBRARY_FORMAT : 1;
}

/** The writing connection of a library database, migrated to this build's schema. */
export function openDatabase(path: string, opts: { create?: boolean; key?: string } = {}): Db {
  if (!opts.create && !existsSync(path)) throw new SdError('E_LIBRARY_NOT_FOUND', `no library database at ${path}`);
  let db: Db;
  try {
    db = new Database(path);
    if (opts.key) applyKey(db, opts.key);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // 8 MiB. Memory a page cache took stays with the process (glibc keeps it), so this is what an
    // idle daemon holds after a big job: 32 MiB left it 17-25 MB larger for no CPU gain measured
    // on a 100,000-file index (the content-id index, the one random access, is built in bulk).
    db.pragma('cache_size = -8192');
    // This connection copies the log back once it holds WRITER_CHECKPOINT_BYTES: a bound on the
    // log's size, the copying itself is mostly done by a thread before (store/checkpoint.ts). An
    // index or a replication streams tens of MiB of pages, and the hot index pages are then copied
    // back once instead of every 4 MiB (measured: upserting 100,000 entries goes from ~140k to
    // ~190k rows/s with 32 MiB).
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`wal_autocheckpoint = ${Math.ceil(WRITER_CHECKPOINT_BYTES / pageSize)}`);
    // temp_store stays the default (a file): in memory, SQLite's sorter never spills either, so
    // building the content-id index over 1,500,000 rows peaked at 197 MiB against 68 (review).
    // A damaged file fails here rather than at the first query.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (e) {
    if (opts.key && (e as { code?: string }).code === 'SQLITE_NOTADB')
      throw new SdError('E_BAD_PASSPHRASE', `the passphrase does not unlock ${path}`, { path });
    throw new SdError(
      'E_CORRUPT_DATABASE',
      `the library database ${path} cannot be opened: ${(e as Error).message}; run \`sd doctor\` to see what can be recovered`,
      { path },
    );
  }
  chmodSync(path, 0o600);
  // WAL and SHM exist from here on: private whatever the umask (the daemon also runs with 077).
  for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const format = libraryFormat(db);
  if (format !== undefined && format < LIBRARY_FORMAT) {
    db.close();
    throw new SdError(
      'E_LIBRARY_FORMAT',
      `the library database ${path} was made by an earlier vdfs (format ${format}; this one reads format ${LIBRARY_FORMAT}): its locations are not bound to their devices, so this version cannot check who may change them; move the file away and re-create the library (re-adding its locations re-indexes them)`,
      { path, format },
    );
  }
  try {
    migrate(db, path);
    // The small tables every open reads: damage to them is found now, with the file named.
    db.prepare('SELECT key, value FROM library_meta').all();
    db.prepare('SELECT count(*) FROM devices').get();
  } catch (e) {
    db.close();
    if (e instanceof SdError) throw e;
    // A migration writes (schema 3 copies every entry): no room for it is not damage.
    if (isDiskFull(e))
      throw new SdError('E_DISK_FULL', `the disk holding ${path} is full: the library could not be upgraded`, { path });
    throw new SdError(
      'E_CORRUPT_DATABASE',
      `the library database ${path} is damaged (${(e as Error).message}); run \`sd doctor\` to see what can be recovered`,
      { path },
    );
  }
  return db;
}

/** Another connection to a library database (snapshots, replays, queries), read-only, keyed like it. */
export function openReader(path: string, key?: string): Db {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  if (key) applyKey(db, key);
  db.pragma('busy_timeout = 5000');
  return db;
}
