// The trash of each location, as a projection of signed events of the device that owns the
// location: a move into the trash appends `trash.added` (what was removed, from where, into which
// trash folder), a restore or an empty appends `trash.removed`. Paths are relative to the
// location's root, so the rows say the same on every device and after a replay.
import { z } from 'zod';
import type { Projector } from './types.js';
import { stmt } from './types.js';

const Rel = z.string().min(1).max(4096);
export const TrashItem = z.object({
  id: z.string().min(1).max(64),
  /** Where it was, relative to the location root. */
  orig: Rel,
  /** Where it is now, relative to the location root (inside .vdfs-trash). */
  item: Rel.refine((p) => p.startsWith('.vdfs-trash/'), 'a trash item lives in .vdfs-trash/'),
  reason: z.enum(['removed', 'overwritten']),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
export const TrashAdded = z.object({
  loc: z.string().min(1).max(64),
  /** The command (its intent id) that put these items there together. */
  batch: z.string().min(1).max(64),
  items: z.array(TrashItem).min(1).max(100_000),
});
export const TrashRemoved = z.object({
  loc: z.string().min(1).max(64),
  ids: z.array(z.string().min(1).max(64)).min(1).max(100_000),
});
export type TrashItem = z.infer<typeof TrashItem>;

const owns = (db: Parameters<Projector['handlers'][string]>[0], loc: string, dev: string): boolean =>
  !!stmt(db, 'SELECT 1 FROM locations WHERE id = ? AND dev = ?').get(loc, dev);

export const trashProjector: Projector = {
  name: 'trash',
  tables: [
    {
      name: 'trash_items',
      ddl: `CREATE TABLE IF NOT EXISTS trash_items (id TEXT PRIMARY KEY, loc TEXT NOT NULL, dev TEXT NOT NULL,
            batch TEXT NOT NULL, orig TEXT NOT NULL, item TEXT NOT NULL, reason TEXT NOT NULL, files INTEGER NOT NULL,
            bytes INTEGER NOT NULL, deleted_at INTEGER NOT NULL)`,
      orderBy: 'id',
    },
  ],
  extraDdl: 'CREATE INDEX IF NOT EXISTS trash_items_by_loc ON trash_items (loc, deleted_at)',
  handlers: {
    // Only the device that owns the location writes its trash; anything else has no effect.
    'trash.added': (db, ev) => {
      const b = TrashAdded.safeParse(ev.body);
      if (!b.success || !owns(db, b.data.loc, ev.dev)) return;
      const ins = stmt(
        db,
        `INSERT OR REPLACE INTO trash_items (id, loc, dev, batch, orig, item, reason, files, bytes, deleted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const i of b.data.items)
        ins.run(i.id, b.data.loc, ev.dev, b.data.batch, i.orig, i.item, i.reason, i.files, i.bytes, ev.hlc.ms);
    },
    'trash.removed': (db, ev) => {
      const b = TrashRemoved.safeParse(ev.body);
      if (!b.success || !owns(db, b.data.loc, ev.dev)) return;
      const del = stmt(db, 'DELETE FROM trash_items WHERE id = ? AND loc = ?');
      for (const id of b.data.ids) del.run(id, b.data.loc);
    },
    'location.removed': (db, ev) => {
      const { id } = ev.body as { id?: unknown };
      if (typeof id === 'string') stmt(db, 'DELETE FROM trash_items WHERE loc = ? AND dev = ?').run(id, ev.dev);
    },
  },
};
