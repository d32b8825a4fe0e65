// Catches the trigram name index up with the entries table, a few thousand rows at a time,
// after they are committed: indexing a name costs more than storing the entry, so it stays
// off the indexer's and the replicator's hot path. Search misses only rows committed within
// the last moments; `searchIndexLag` says how many.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { stmt } from './types.js';

/** Indexes up to `max` rows; returns how many it did (0 when caught up). */
export function catchUpSearchIndex(db: Database, max = 4000): number {
  const upto = (stmt(db, 'SELECT upto FROM entries_fts_state').get() as { upto: number }).upto;
  const rows = stmt(db, 'SELECT id, name FROM entries WHERE id > ? ORDER BY id LIMIT ?').all(upto, max) as {
    id: number;
    name: string;
  }[];
  if (rows.length === 0) return 0;
  db.transaction(() => {
    const ins = stmt(db, 'INSERT INTO entries_fts (rowid, name) VALUES (?, ?)');
    for (const r of rows) ins.run(r.id, r.name);
    stmt(db, 'UPDATE entries_fts_state SET upto = ?').run(rows[rows.length - 1]!.id);
  })();
  return rows.length;
}

export function searchIndexLag(db: Database): number {
  return (
    db.prepare('SELECT COUNT(*) AS n FROM entries WHERE id > (SELECT upto FROM entries_fts_state)').get() as {
      n: number;
    }
  ).n;
}

/**
 * Whether the name index holds exactly the names of the entries it covers: FTS5's integrity check
 * against its content table. Runs on the writing connection (FTS5 reads the check as a write).
 */
export function searchIndexCheck(db: Database, catchUp = true): { ok: boolean; detail: string } {
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
