// Locations and the entries indexed in them. Written only by the device that owns the
// location, so its feed is the truth. Entry keys are relative paths with '/' replaced by \x01,
// so that SQLite's byte order is the walker's order (a folder right before its contents).
import type { Database } from 'better-sqlite3-multiple-ciphers';
import type { Projector } from './types.js';
import { stmt } from './types.js';

export const SEP = '\u0001';
// A global regular expression: twice the speed of replaceAll with a string here (148 against 296
// ns for a 25-character path), and each is called once per entry of an index.
const SLASHES = /\//g;
const SEPS = /\u0001/g;
export const toKey = (relPath: string): string => relPath.replace(SLASHES, SEP);
export const toPath = (key: string): string => key.replace(SEPS, '/');
export const parentKey = (key: string): string => {
  const i = key.lastIndexOf(SEP);
  return i < 0 ? '' : key.slice(0, i);
};
/** Entry kinds as stored in `t`. */
export const FILE = 0;
export const DIR = 1;
export const SYMLINK = 2;
export const SPECIAL = 3; // a named pipe, socket or device (its kind says which); never opened

/** [key, t, size, mtimeMs, inode, kind, content id when the file was hashed before its entry was written] */
export type EntryTuple = [string, number, number, number, number | bigint | string, string, string?];

export interface LocationAdded {
  id: string;
  path: string;
  name: string;
  watch: boolean;
  rules: { skipHidden?: boolean; skipNames?: string[]; gitignore?: boolean };
}

/**
 * The number that stands for a location id in `entries_t` (one is given the first time a
 * location's entries are stored). Entries repeat their location in the table and in two of its
 * indexes: 43 characters each time were about a third of what a row cost to store, and a number
 * is one or two bytes. Local to this database, like the rowid: the `entries` view shows the id.
 */
function newLocNo(db: Database, id: string): number {
  return Number(stmt(db, 'INSERT INTO loc_numbers (id) VALUES (?)').run(id).lastInsertRowid);
}

/** A location's number, or undefined when none of its entries was ever stored here. */
function knownLocNo(db: Database, id: string): number | undefined {
  return (stmt(db, 'SELECT n FROM loc_numbers WHERE id = ?').get(id) as { n: number } | undefined)?.n;
}

/** The entry and everything below it, in one range of the (loc, key) index: keys hold no NUL. */
function removeSubtree(db: Database, loc: number, key: string): void {
  stmt(db, 'DELETE FROM entries_t WHERE loc = ? AND key >= ? AND key < ?').run(loc, key, key + '\u0002');
}

const UPSERT_ROWS = 50;

// A changed file loses its content id until it is identified again, unless the row brings one.
// Multi-row VALUES with ON CONFLICT is per row in SQLite: `excluded` is each row's own values.
const upsertSql = (rows: number): string =>
  `INSERT INTO entries_t (loc, key, parent, name, t, size, mtime, inode, kind, cid) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
   ON CONFLICT (loc, key) DO UPDATE SET t = excluded.t, size = excluded.size, mtime = excluded.mtime, inode = excluded.inode,
   kind = excluded.kind, cid = CASE WHEN excluded.cid IS NOT NULL THEN excluded.cid
     WHEN entries_t.size = excluded.size AND entries_t.mtime = excluded.mtime AND entries_t.t = excluded.t THEN entries_t.cid ELSE NULL END`;

/**
 * A new row gets the id after the last one, so it lands above the name index's catch-up mark
 * (entries_fts_state.upto) and the catch-up indexes it, unless the last rows were indexed and then
 * deleted: SQLite then gives their ids again. Their deletion took them out of the index (the
 * delete triggers, or the queue before the group commits), so the mark comes down to the last row
 * that is left, and every new row is above it. One statement per event, instead of two insert
 * triggers per row whose conditions cost 46-72 ms per 105,000 rows stored.
 */
const MARK_DOWN = 'UPDATE entries_fts_state SET upto = (SELECT COALESCE(MAX(id), 0) FROM entries_t)';
/**
 * Before an upsert, in one statement run (an event of one row is a command's common write, and
 * each run costs a few microseconds): the location's number if it has one, and whether the mark
 * is above the last row.
 */
const BEFORE_UPSERT = `SELECT (SELECT n FROM loc_numbers WHERE id = ?),
  (SELECT upto FROM entries_fts_state) > (SELECT COALESCE(MAX(id), 0) FROM entries_t)`;

const UPSERT_MANY = upsertSql(UPSERT_ROWS);
const UPSERT_ONE = upsertSql(1);

function pushEntry(args: unknown[], loc: number, [key, t, size, mtime, inode, kind, cid]: EntryTuple): void {
  const i = key.lastIndexOf(SEP);
  args.push(
    loc,
    key,
    i < 0 ? '' : key.slice(0, i),
    i < 0 ? key : key.slice(i + 1),
    t,
    size,
    mtime,
    inode,
    kind,
    cid ?? null,
  );
}

/**
 * The index of content ids. The index job drops it while it identifies many files and builds it
 * again at the end (see jobs/index-phases.ts); every open builds it if a crash left it missing.
 */
export const CID_INDEX_DDL = 'CREATE INDEX IF NOT EXISTS entries_by_cid ON entries_t (cid) WHERE cid IS NOT NULL';

/**
 * Deletions and renames of indexed rows keep the name index exact, either at once or, inside a
 * group of writes (`entries_fts_mode.defer`, never committed as 1), through a queue that the
 * group applies in two statements before it commits (search-index.ts): FTS5 writes its pending
 * terms out at every statement's savepoint, so one row a statement cost ~90 us, and one
 * statement for the whole queue ~1 us a row. `queue.old` is the name the index holds for the
 * id (NULL: none), `redo` that the row's current name is to be added.
 */
const NAME_INDEX_TRIGGERS = `
  CREATE TABLE IF NOT EXISTS entries_fts_mode (k INTEGER PRIMARY KEY CHECK (k = 0), defer INTEGER NOT NULL);
  INSERT OR IGNORE INTO entries_fts_mode (k, defer) VALUES (0, 0);
  CREATE TABLE IF NOT EXISTS entries_fts_queue (id INTEGER PRIMARY KEY, old TEXT, redo INTEGER NOT NULL);
  DROP TRIGGER IF EXISTS entries_fts_ins; DROP TRIGGER IF EXISTS entries_fts_del; DROP TRIGGER IF EXISTS entries_fts_upd;
  DROP TRIGGER IF EXISTS entries_fts_ins1; DROP TRIGGER IF EXISTS entries_fts_ins_q;
  CREATE TRIGGER IF NOT EXISTS entries_fts_del1 AFTER DELETE ON entries_t
    WHEN old.id <= (SELECT upto FROM entries_fts_state) AND (SELECT defer FROM entries_fts_mode) = 0 BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, name) VALUES ('delete', old.id, old.name); END;
  CREATE TRIGGER IF NOT EXISTS entries_fts_upd1 AFTER UPDATE OF name ON entries_t
    WHEN old.name <> new.name AND new.id <= (SELECT upto FROM entries_fts_state) AND (SELECT defer FROM entries_fts_mode) = 0 BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, name) VALUES ('delete', old.id, old.name);
    INSERT INTO entries_fts (rowid, name) VALUES (new.id, new.name); END;
  CREATE TRIGGER IF NOT EXISTS entries_fts_del_q AFTER DELETE ON entries_t
    WHEN old.id <= (SELECT upto FROM entries_fts_state) AND (SELECT defer FROM entries_fts_mode) = 1 BEGIN
    INSERT INTO entries_fts_queue (id, old, redo) VALUES (old.id, old.name, 0) ON CONFLICT (id) DO UPDATE SET redo = 0; END;
  CREATE TRIGGER IF NOT EXISTS entries_fts_upd_q AFTER UPDATE OF name ON entries_t
    WHEN old.name <> new.name AND new.id <= (SELECT upto FROM entries_fts_state) AND (SELECT defer FROM entries_fts_mode) = 1 BEGIN
    INSERT INTO entries_fts_queue (id, old, redo) VALUES (old.id, old.name, 1) ON CONFLICT (id) DO UPDATE SET redo = 1; END;`;

/** Where entries are stored (schema.ts's migration 3 makes it from a library's old table). */
const ENTRIES_T_DDL = `CREATE TABLE IF NOT EXISTS entries_t (id INTEGER PRIMARY KEY, loc INTEGER NOT NULL, key TEXT NOT NULL,
  parent TEXT NOT NULL, name TEXT NOT NULL, t INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
  inode INTEGER NOT NULL, kind TEXT NOT NULL, cid TEXT, dsize INTEGER, dfiles INTEGER, UNIQUE (loc, key))`;

export const entriesProjector: Projector = {
  name: 'entries',
  tables: [
    {
      name: 'locations',
      ddl: `CREATE TABLE IF NOT EXISTS locations (id TEXT PRIMARY KEY, dev TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL,
            watch INTEGER NOT NULL, rules TEXT NOT NULL, added_at INTEGER NOT NULL, indexed_at INTEGER)`,
      orderBy: 'id',
    },
    {
      // Queries read the view `entries`, with each row's location id; the rows are stored in
      // `entries_t` with the location's number (see newLocNo). The view joins one row of
      // `loc_numbers` per location asked for, then reads the (loc, ...) indexes as before; its
      // columns are the old table's, in its order, so the checksum is the same.
      // A rowid table so the trigram index on names can point at rows; the rowid is local
      // (it differs between devices and replays) and is left out of the checksum.
      name: 'entries',
      store: 'entries_t',
      ddl: `CREATE TABLE IF NOT EXISTS loc_numbers (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
            ${ENTRIES_T_DDL};
            CREATE VIEW IF NOT EXISTS entries AS SELECT e.id AS id, n.id AS loc, e.key AS key, e.parent AS parent,
              e.name AS name, e.t AS t, e.size AS size, e.mtime AS mtime, e.inode AS inode, e.kind AS kind, e.cid AS cid,
              e.dsize AS dsize, e.dfiles AS dfiles FROM entries_t e JOIN loc_numbers n ON n.n = e.loc`,
      orderBy: 'loc, key',
      exclude: ['id'],
    },
  ],
  // The trigram index on names is a secondary index kept off the indexing hot path: rows are
  // added by catchUpSearchIndex() after they are committed (see search-index.ts); deletions and
  // renames of rows it already holds are kept exact by triggers.
  // An external-content index: FTS5's integrity check then compares it with the names it was
  // built from, which is how `sd replay --check` notices a planted or missing row. A row that
  // reuses the id of a deleted last row finds the catch-up mark brought down first (MARK_DOWN).
  // The files still without a content id, for the identify phase: small (a first index writes
  // files with their ids), and it spares every rescan two scans of the location to find none.
  extraDdl: `CREATE INDEX IF NOT EXISTS entries_by_parent ON entries_t (loc, parent, name);
             ${CID_INDEX_DDL};
             CREATE INDEX IF NOT EXISTS entries_unidentified ON entries_t (loc, key) WHERE t = 0 AND cid IS NULL;
             CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(name, content='entries', content_rowid='id', tokenize='trigram case_sensitive 0');
             CREATE TABLE IF NOT EXISTS entries_fts_state (k INTEGER PRIMARY KEY CHECK (k = 0), upto INTEGER NOT NULL);
             INSERT OR IGNORE INTO entries_fts_state (k, upto) VALUES (0, 0);
             ${NAME_INDEX_TRIGGERS}`,
  handlers: {
    'location.added': (db, ev) => {
      const b = ev.body as LocationAdded;
      stmt(
        db,
        'INSERT OR REPLACE INTO locations (id, dev, path, name, watch, rules, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(b.id, ev.dev, b.path, b.name, b.watch ? 1 : 0, JSON.stringify(b.rules ?? {}), ev.hlc.ms);
    },
    'location.removed': (db, ev) => {
      const { id } = ev.body as { id: string };
      const n = knownLocNo(db, id);
      if (n !== undefined) stmt(db, 'DELETE FROM entries_t WHERE loc = ?').run(n);
      stmt(db, 'DELETE FROM locations WHERE id = ? AND dev = ?').run(id, ev.dev);
    },
    'location.updated': (db, ev) => {
      const b = ev.body as { id: string; watch?: boolean; name?: string };
      if (b.watch !== undefined)
        stmt(db, 'UPDATE locations SET watch = ? WHERE id = ? AND dev = ?').run(b.watch ? 1 : 0, b.id, ev.dev);
      if (b.name !== undefined)
        stmt(db, 'UPDATE locations SET name = ? WHERE id = ? AND dev = ?').run(b.name, b.id, ev.dev);
    },
    'location.indexed': (db, ev) => {
      const b = ev.body as { id: string };
      stmt(db, 'UPDATE locations SET indexed_at = ? WHERE id = ? AND dev = ?').run(ev.hlc.ms, b.id, ev.dev);
    },
    'entries.upserted': (db, ev) => {
      const { loc: id, e } = ev.body as { loc: string; e: EntryTuple[] };
      const [n, above] = stmt(db, BEFORE_UPSERT).raw(true).get(id) as [number | null, number];
      const loc = n ?? newLocNo(db, id);
      if (above) stmt(db, MARK_DOWN).run();
      // Rows go UPSERT_ROWS to a statement: a batch of 1,000 costs 20 statement runs, not 1,000
      // (measured ~30% faster on a 100,000-entry replication).
      const many = stmt(db, UPSERT_MANY);
      const one = stmt(db, UPSERT_ONE);
      const args: unknown[] = [];
      let i = 0;
      for (; i + UPSERT_ROWS <= e.length; i += UPSERT_ROWS) {
        args.length = 0;
        for (let j = i; j < i + UPSERT_ROWS; j++) pushEntry(args, loc, e[j]!);
        many.run(args);
      }
      for (; i < e.length; i++) {
        args.length = 0;
        pushEntry(args, loc, e[i]!);
        one.run(args);
      }
    },
    'entries.deleted': (db, ev) => {
      const { loc: id, keys } = ev.body as { loc: string; keys: string[] };
      const loc = knownLocNo(db, id);
      if (loc !== undefined) for (const k of keys) removeSubtree(db, loc, k);
    },
    'entries.moved': (db, ev) => {
      const { loc: id, moves } = ev.body as { loc: string; moves: [string, string][] };
      const loc = knownLocNo(db, id);
      if (loc === undefined) return;
      const move = stmt(db, 'UPDATE entries_t SET key = ?, parent = ?, name = ? WHERE loc = ? AND key = ?');
      for (const [from, to] of moves) {
        removeSubtree(db, loc, to);
        const i = to.lastIndexOf(SEP);
        move.run(to, i < 0 ? '' : to.slice(0, i), i < 0 ? to : to.slice(i + 1), loc, from);
        // Children of a moved folder follow it.
        const kids = stmt(db, 'SELECT key FROM entries_t WHERE loc = ? AND key > ? AND key < ?').all(
          loc,
          from + SEP,
          from + '\u0002',
        ) as { key: string }[];
        for (const { key } of kids) {
          const nk = to + key.slice(from.length);
          const j = nk.lastIndexOf(SEP);
          move.run(nk, nk.slice(0, j), nk.slice(j + 1), loc, key);
        }
      }
    },
    'entries.identified': (db, ev) => {
      const { loc: id, ids } = ev.body as { loc: string; ids: [string, string, string, number][] };
      const loc = knownLocNo(db, id);
      if (loc === undefined) return;
      const set = stmt(db, 'UPDATE entries_t SET cid = ?, kind = ? WHERE loc = ? AND key = ? AND size = ?');
      for (const [key, cid, kind, size] of ids) set.run(cid, kind, loc, key, size);
    },
    'entries.aggregated': (db, ev) => {
      const { loc: id, dirs } = ev.body as { loc: string; dirs: [string, number, number][] };
      const loc = knownLocNo(db, id);
      if (loc === undefined) return;
      const set = stmt(db, 'UPDATE entries_t SET dsize = ?, dfiles = ? WHERE loc = ? AND key = ?');
      for (const [key, bytes, files] of dirs) set.run(bytes, files, loc, key);
    },
  },
};
