// Library meta (name, creator) and the roster of member devices with their public keys.
import type { Projector } from './types.js';
import { stmt } from './types.js';

interface CreatedBody {
  id: string;
  name: string;
  creator: { dev: string; pubkey: Uint8Array; name: string };
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
      ddl: `CREATE TABLE IF NOT EXISTS devices (dev TEXT PRIMARY KEY, pubkey BLOB NOT NULL, name TEXT NOT NULL,
            added_by TEXT, added_at INTEGER NOT NULL, revoked_at INTEGER, revoked_by TEXT, revoked_seq INTEGER)`,
      orderBy: 'dev',
    },
  ],
  handlers: {
    'library.created': (db, ev) => {
      const b = ev.body as CreatedBody;
      const set = stmt(db, 'INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)');
      set.run('id', b.id);
      set.run('name', b.name);
      set.run('created_by', ev.dev);
      set.run('created_at', String(ev.hlc.ms));
      stmt(db, 'INSERT OR REPLACE INTO devices (dev, pubkey, name, added_by, added_at) VALUES (?, ?, ?, ?, ?)').run(
        b.creator.dev,
        b.creator.pubkey,
        b.creator.name,
        ev.dev,
        ev.hlc.ms,
      );
    },
    'library.renamed': (db, ev) => {
      // Last writer wins by HLC (then device id), so concurrent renames end the same everywhere,
      // whatever order the events arrive in.
      const stamp = `${String(ev.hlc.ms).padStart(15, '0')}:${String(ev.hlc.c).padStart(9, '0')}:${ev.dev}`;
      const cur = stmt(db, "SELECT value FROM library_meta WHERE key = 'name_stamp'").get() as
        { value: string } | undefined;
      if (cur && cur.value > stamp) return;
      stmt(db, 'INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)').run(
        'name',
        (ev.body as { name: string }).name,
      );
      stmt(db, 'INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)').run('name_stamp', stamp);
    },
    'device.renamed': (db, ev) => {
      stmt(db, 'UPDATE devices SET name = ? WHERE dev = ?').run((ev.body as { name: string }).name, ev.dev);
    },
    'device.added': (db, ev) => {
      const b = ev.body as { dev: string; pubkey: Uint8Array; name: string };
      stmt(db, 'INSERT OR IGNORE INTO devices (dev, pubkey, name, added_by, added_at) VALUES (?, ?, ?, ?, ?)').run(
        b.dev,
        b.pubkey,
        b.name,
        ev.dev,
        ev.hlc.ms,
      );
    },
    'device.revoked': (db, ev) => {
      const b = ev.body as { dev: string; upTo: number };
      stmt(
        db,
        'UPDATE devices SET revoked_at = ?, revoked_by = ?, revoked_seq = ? WHERE dev = ? AND revoked_at IS NULL',
      ).run(ev.hlc.ms, ev.dev, b.upTo ?? 0, b.dev);
    },
  },
};
