// The library database's schema, in one place, with a version (SQLite's user_version) and the
// migrations that take an older database to it. The log and the operational tables (jobs,
// intents, the shared documents' storage) are stated here; projection tables are derived data,
// declared by their projectors and created if missing at every open (a change to the shape of
// one is a migration that drops it, then `rebuildInPlace` refills it from the log).
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { LOG_SCHEMA } from '../events/log.js';
import { JOBS_SCHEMA } from '../jobs/store.js';
import { applySchema } from '../projections/index.js';
import { TRANSFER_SCHEMA } from '../transfer/schema.js';
import { LOCATION_FOLDERS_SCHEMA } from '../jobs/location-folder.js';

/** Tables that are neither the log nor a projection: pairing anchors, intents, Automerge storage. */
const OPERATIONAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS trust_anchors (dev TEXT PRIMARY KEY, pubkey BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS intents (id TEXT PRIMARY KEY, command TEXT NOT NULL, plan BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done')), outcome TEXT, ran TEXT, verify TEXT,
  created_at INTEGER NOT NULL, done_at INTEGER);
CREATE INDEX IF NOT EXISTS intents_pending ON intents (state) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS automerge_store (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS shared_heads (name TEXT PRIMARY KEY, heads TEXT NOT NULL);
`;

/**
 * migrations[i] takes a database from version i to i + 1. Version 0 is a database made before
 * versions existed (library format 2, every table created with IF NOT EXISTS), or a new file:
 * migration 1 creates whatever is missing. Append, never edit: a released step is history.
 */
const migrations: readonly ((db: Database) => void)[] = [
  (db) => db.exec(LOG_SCHEMA + JOBS_SCHEMA + OPERATIONAL_SCHEMA),
  // 1 -> 2: file transfers' grants and inbox drops (transfer/schema.ts).
  (db) => db.exec(TRANSFER_SCHEMA),
  // 2 -> 3: entries are stored in entries_t with a number for their location, and read through
  // the view `entries` (projections/entries.ts). The rows move with their ids, so the name index
  // still points at them; dropping the old table drops its indexes and triggers, and applySchema
  // makes them again on entries_t.
  (db) => {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").get()) return;
    db.exec(`CREATE TABLE IF NOT EXISTS loc_numbers (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
      CREATE TABLE entries_t (id INTEGER PRIMARY KEY, loc INTEGER NOT NULL, key TEXT NOT NULL,
        parent TEXT NOT NULL, name TEXT NOT NULL, t INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
        inode INTEGER NOT NULL, kind TEXT NOT NULL, cid TEXT, dsize INTEGER, dfiles INTEGER, UNIQUE (loc, key));
      INSERT OR IGNORE INTO loc_numbers (id) SELECT DISTINCT loc FROM entries ORDER BY loc;
      INSERT INTO entries_t (id, loc, key, parent, name, t, size, mtime, inode, kind, cid, dsize, dfiles)
        SELECT e.id, n.n, e.key, e.parent, e.name, e.t, e.size, e.mtime, e.inode, e.kind, e.cid, e.dsize, e.dfiles
        FROM entries e JOIN loc_numbers n ON n.id = e.loc ORDER BY e.id;
      DROP TABLE entries;`);
  },
  // 3 -> 4: the folder each location's last index job began with (jobs/location-folder.ts).
  (db) => db.exec(LOCATION_FOLDERS_SCHEMA),
];

/** The version this build writes and reads. */
export const SCHEMA_VERSION = migrations.length;

export const schemaVersion = (db: Database): number => db.pragma('user_version', { simple: true }) as number;

/**
 * Brings the database to SCHEMA_VERSION in one transaction (all steps or none), then makes sure
 * every projection table exists. A database from a newer vdfs is refused, untouched.
 */
export function migrate(db: Database, path: string, steps = migrations): void {
  const from = schemaVersion(db);
  if (from > steps.length)
    throw new SdError(
      'E_LIBRARY_FORMAT',
      `the library database ${path} has schema version ${from}, made by a newer vdfs (this one reads up to ${steps.length}): upgrade vdfs to open it`,
      { path, format: from },
    );
  if (from < steps.length)
    db.transaction(() => {
      for (let v = from; v < steps.length; v++) steps[v]!(db);
      db.pragma(`user_version = ${steps.length}`);
    })();
  applySchema(db);
}
