// Library meta (name, creator), the roster of member devices with their keys, and the events that
// were refused. The roster is recomputed from every roster event whenever one arrives (roster.ts),
// so it is the same on every device whatever the arrival order.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import type { Projector } from './types.js';
import { stmt } from './types.js';
import type { Roster } from './roster.js';
import { recordRefusal } from './rules.js';

const setMeta = (db: Database, key: string, value: string): void =>
  void stmt(db, 'INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)').run(key, value);

/** Replaces the roster tables with a computed roster. */
export function writeRoster(db: Database, roster: Roster): void {
  stmt(db, 'DELETE FROM devices').run();
  const ins = stmt(
    db,
    `INSERT INTO devices (dev, pubkey, name, role, added_by, added_at, revoked_at, revoked_by, revoked_seq)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const d of roster.devices.values())
    ins.run(d.dev, d.pubkey, d.name, d.role, d.addedBy, d.addedAt, d.revokedAt, d.revokedBy, d.cut);
  stmt(db, 'DELETE FROM refused WHERE roster = 1').run();
  for (const r of roster.refused.values()) recordRefusal(db, r, r, true);
  const c = roster.creator;
  if (!c) return;
  setMeta(db, 'id', c.library);
  setMeta(db, 'created_by', c.dev);
  setMeta(db, 'created_at', String(c.at));
  // A rename (last writer wins by HLC) outranks the name given at creation, in any order.
  if (!stmt(db, "SELECT 1 FROM library_meta WHERE key = 'name_stamp'").get()) setMeta(db, 'name', c.name);
}

export const libraryProjector: Projector = {
  name: 'library',
  tables: [
    {
      name: 'library_meta',
      ddl: 'CREATE TABLE IF NOT EXISTS library_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
      orderBy: 'key',
    },
    {
      name: 'devices',
      ddl: `CREATE TABLE IF NOT EXISTS devices (dev TEXT PRIMARY KEY, pubkey BLOB NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
            added_by TEXT, added_at INTEGER NOT NULL, revoked_at INTEGER, revoked_by TEXT, revoked_seq INTEGER)`,
      orderBy: 'dev',
    },
    {
      name: 'refused',
      ddl: `CREATE TABLE IF NOT EXISTS refused (dev TEXT NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL,
            reason TEXT NOT NULL, roster INTEGER NOT NULL, PRIMARY KEY (dev, seq)) WITHOUT ROWID`,
      orderBy: 'dev, seq',
    },
  ],
  handlers: {
    'library.renamed': (db, ev) => {
      // Last writer wins by HLC (then device id), so concurrent renames end the same everywhere,
      // whatever order the events arrive in.
      const stamp = `${String(ev.hlc.ms).padStart(15, '0')}:${String(ev.hlc.c).padStart(10, '0')}:${ev.dev}`;
      const cur = stmt(db, "SELECT value FROM library_meta WHERE key = 'name_stamp'").get() as
        { value: string } | undefined;
      if (cur && cur.value > stamp) return;
      setMeta(db, 'name', (ev.body as { name: string }).name);
      setMeta(db, 'name_stamp', stamp);
    },
  },
};
