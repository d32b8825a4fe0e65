// sd collection list / show: one collection per name, its items the union of every collection
// of that name, each content once at its earliest position (then by content id): the same order
// on every device.
import { sep } from 'node:path';
import { z } from 'zod';
import { toPath } from '../../projections/entries.js';
import { defineQuery } from '../define.js';
import { marks, resolveNamed } from '../tag/named.js';

export const listCollections = defineQuery({
  name: 'collection.list',
  summary: 'collections with their sizes (one row per name)',
  input: z.object({}),
  run: ({ db }) =>
    (
      db
        .prepare(
          `SELECT c.name, MIN(c.id) AS id, json_group_array(c.id) AS ids,
           (SELECT COUNT(DISTINCT i.cid) FROM collection_items i JOIN collections o ON o.id = i.coll WHERE o.name = c.name) AS items
           FROM (SELECT id, name FROM collections ORDER BY id) c GROUP BY c.name ORDER BY c.name`,
        )
        .all() as { id: string; name: string; ids: string; items: number }[]
    ).map((r) => ({ id: r.id, name: r.name, ids: (JSON.parse(r.ids) as string[]).sort(), items: r.items })),
});

export const showCollection = defineQuery({
  name: 'collection.show',
  summary: 'the items of a collection in order, with their current paths',
  input: z.object({ collection: z.string().min(1) }),
  run: ({ db }, { collection }) => {
    const g = resolveNamed(db, 'collection', collection);
    const items = db
      .prepare(
        `SELECT cid, MIN(pos) AS pos FROM collection_items WHERE coll IN (${marks(g.ids.length)}) GROUP BY cid ORDER BY pos, cid`,
      )
      .all(...g.ids) as { cid: string; pos: number }[];
    const where = db.prepare(
      'SELECT e.key, e.name, e.size, l.path AS root, l.dev FROM entries e JOIN locations l ON l.id = e.loc WHERE e.cid = ? ORDER BY l.path, e.key',
    );
    return {
      id: g.id,
      ids: g.ids,
      name: g.name,
      items: items.map((i) => {
        const at = where.all(i.cid) as { key: string; name: string; size: number; root: string; dev: string }[];
        return {
          contentId: i.cid,
          name: at[0]?.name ?? null,
          size: at[0]?.size ?? null,
          paths: at.map((a) => ({ path: a.root + sep + toPath(a.key).split('/').join(sep), device: a.dev })),
        };
      }),
    };
  },
});
