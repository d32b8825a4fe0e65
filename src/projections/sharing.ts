// What each location offers to other devices, from its `location.added` event (its owner's word):
// whether its files are served to members (`--serve`, the default, or `--no-serve`), and whether
// it is its device's inbox for `sd send`, accepting drops from any member or asking first.
import type { Projector } from './types.js';
import { stmt } from './types.js';

interface Sharing {
  id: string;
  serve?: boolean;
  inbox?: boolean;
  accept?: 'members' | 'ask';
}

export const sharingProjector: Projector = {
  name: 'sharing',
  tables: [
    {
      name: 'location_sharing',
      ddl: `CREATE TABLE IF NOT EXISTS location_sharing (id TEXT PRIMARY KEY, serve INTEGER NOT NULL, inbox INTEGER NOT NULL,
            accept TEXT NOT NULL)`,
      orderBy: 'id',
    },
  ],
  handlers: {
    'location.added': (db, ev) => {
      const b = ev.body as Sharing;
      stmt(db, 'INSERT OR REPLACE INTO location_sharing (id, serve, inbox, accept) VALUES (?, ?, ?, ?)').run(
        b.id,
        b.serve === false ? 0 : 1,
        b.inbox ? 1 : 0,
        b.accept ?? 'members',
      );
    },
    'location.removed': (db, ev) => {
      stmt(db, 'DELETE FROM location_sharing WHERE id = ?').run((ev.body as { id: string }).id);
    },
  },
};
