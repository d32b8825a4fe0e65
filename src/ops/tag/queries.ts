// sd tag list: one row per name (tags of one name are one tag; see named.ts).
import { z } from 'zod';
import { defineQuery } from '../define.js';

interface TagRow {
  id: string;
  name: string;
  color: string | null;
  parent: string | null;
}

export const listTags = defineQuery({
  name: 'tag.list',
  summary: 'tags with how many content items and files carry them (one row per name)',
  input: z.object({}),
  run: ({ db }) => {
    const tags = db
      .prepare(
        'SELECT t.id, t.name, t.color, p.name AS parent FROM tags t LEFT JOIN tags p ON p.id = t.parent ORDER BY t.name, t.id',
      )
      .all() as TagRow[];
    // Distinct content per name: a file tagged with both "red"s counts once.
    const items = new Map(
      (
        db
          .prepare(
            'SELECT name, COUNT(*) AS n FROM (SELECT DISTINCT t.name, a.cid FROM tag_assign a JOIN tags t ON t.id = a.tag) GROUP BY name',
          )
          .all() as { name: string; n: number }[]
      ).map((r) => [r.name, r.n]),
    );
    const files = new Map(
      (
        db
          .prepare(
            `SELECT x.name, COUNT(*) AS n FROM (SELECT DISTINCT t.name, a.cid FROM tag_assign a JOIN tags t ON t.id = a.tag) x
             JOIN entries e ON e.cid = x.cid GROUP BY x.name`,
          )
          .all() as { name: string; n: number }[]
      ).map((r) => [r.name, r.n]),
    );
    const rows: (TagRow & { ids: string[]; items: number; files: number })[] = [];
    for (const t of tags) {
      const last = rows[rows.length - 1];
      if (last?.name === t.name) {
        // The first (smallest) id is the tag; the others lend a colour or parent it lacks.
        last.ids.push(t.id);
        last.color ??= t.color;
        last.parent ??= t.parent;
        continue;
      }
      rows.push({ ...t, ids: [t.id], items: items.get(t.name) ?? 0, files: files.get(t.name) ?? 0 });
    }
    return rows;
  },
});
