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
