// Catches the trigram name index up with the entries table, a few thousand rows at a time,
// after they are committed: indexing a name costs more than storing the entry, so it stays
// off the indexer's and the replicator's hot path. Search misses only rows committed within
// the last moments; `searchIndexLag` says how many.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { stmt } from './types.js';

/**
 * Indexes up to `max` rows; returns how many it did (0 when caught up). The names go from the
 * table to the index inside SQLite, in one statement: reading them out as JS objects and inserting
 * them one statement run each was two fifths of the catch-up's time at 1,000,000 entries.
 */
export function catchUpSearchIndex(db: Database, max = 4000): number {
  const upto = (stmt(db, 'SELECT upto FROM entries_fts_state').get() as { upto: number }).upto;
  const { last, n } = stmt(
    db,
    'SELECT MAX(id) AS last, COUNT(*) AS n FROM (SELECT id FROM entries_t WHERE id > ? ORDER BY id LIMIT ?)',
  ).get(upto, max) as { last: number | null; n: number };
  if (n === 0 || last === null) return 0;
  // A timer can fire between two units of a deferring group: what the group queued goes to the
  // index first. Otherwise a row indexed here under a freed id would keep this name when the queue
  // later takes out only the deleted row's (review).
  settleNameQueue(db);
  db.transaction(() => {
    stmt(
      db,
      'INSERT INTO entries_fts (rowid, name) SELECT id, name FROM entries_t WHERE id > ? AND id <= ? ORDER BY id',
    ).run(upto, last);
    stmt(db, 'UPDATE entries_fts_state SET upto = ?').run(last);
  })();
  return n;
}

/**
 * From now until applyNameQueue(), deletions and renames of indexed rows are queued instead of
 * applied to the name index one statement at a time (see entries.ts). Only inside a transaction
 * that calls applyNameQueue() before it commits: the flag is never committed set.
 */
export function deferNameIndex(db: Database): void {
  stmt(db, 'UPDATE entries_fts_mode SET defer = 1').run();
}

/** Applies the queued deletions and renames to the name index in two statements, and ends deferring. */
export function applyNameQueue(db: Database): void {
  stmt(
    db,
    "INSERT INTO entries_fts (entries_fts, rowid, name) SELECT 'delete', id, old FROM entries_fts_queue WHERE old IS NOT NULL",
  ).run();
  stmt(
    db,
    'INSERT INTO entries_fts (rowid, name) SELECT e.id, e.name FROM entries_fts_queue q JOIN entries_t e ON e.id = q.id WHERE q.redo = 1',
  ).run();
  stmt(db, 'DELETE FROM entries_fts_queue').run();
  stmt(db, 'UPDATE entries_fts_mode SET defer = 0').run();
}

/** Inside a deferring group, applies what it queued to the index; the group goes on deferring. */
function settleNameQueue(db: Database): void {
  if (!db.inTransaction || !(stmt(db, 'SELECT defer FROM entries_fts_mode').get() as { defer: number }).defer) return;
  applyNameQueue(db);
  deferNameIndex(db);
}

export function searchIndexLag(db: Database): number {
  return (
    // Through the view (or the table of a library before schema 3, which `sd doctor` reads as it is).
    (
      db.prepare('SELECT COUNT(*) AS n FROM entries WHERE id > (SELECT upto FROM entries_fts_state)').get() as {
        n: number;
      }
    ).n
  );
}

/**
 * Whether the name index holds exactly the names of the entries it covers: FTS5's integrity check
 * against its content table. Runs on the writing connection (FTS5 reads the check as a write).
 */
export function searchIndexCheck(db: Database, catchUp = true): { ok: boolean; detail: string } {
  settleNameQueue(db);
  if (catchUp) while (catchUpSearchIndex(db, 10_000) > 0);
  else if (searchIndexLag(db) > 0)
    return { ok: true, detail: `not checked: ${searchIndexLag(db)} names wait to be indexed (the daemon does it)` };
  try {
    db.exec("INSERT INTO entries_fts (entries_fts, rank) VALUES ('integrity-check', 1)");
    return { ok: true, detail: 'the name index matches the entries' };
  } catch (e) {
    return { ok: false, detail: `the name index does not match the entries (${(e as Error).message})` };
  }
}

/**
 * When a library's name index catches up: once writes pause (100 ms), or after 5 s of continuous
 * writes, a few thousand rows a turn. A full disk puts it off 5 s (search meanwhile matches new
 * rows directly).
 */
export class NameIndexCatchUp {
  private timer: NodeJS.Timeout | undefined;
  private first = 0;

  constructor(
    private readonly db: Database,
    /** Whether a write error was the disk's (reported), so the catch-up is tried again later. */
    private readonly diskError: (e: unknown) => boolean,
  ) {}

  /** Rows were committed: the index catches up soon. */
  schedule(): void {
    const now = Date.now();
    if (!this.timer) this.first = now;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), Math.max(0, Math.min(100, this.first + 5000 - now)));
  }

  private run(): void {
    this.timer = undefined;
    if (!this.db.open) return;
    try {
      if (catchUpSearchIndex(this.db, 4000) === 4000) this.timer = setTimeout(() => this.run(), 0);
    } catch (e) {
      if (!this.diskError(e)) throw e;
      this.timer = setTimeout(() => this.run(), 5_000);
      this.timer.unref();
    }
  }

  /** Indexes every name not yet in the index now (tests, benches, shutdown). */
  flush(): void {
    this.stop();
    while (this.db.open && catchUpSearchIndex(this.db, 10_000) > 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
