// Collections: ordered sets of content, shared metadata like tags. Items are keyed by content
// id with a position number, so concurrent additions on two devices both survive.
import { randomUUID } from 'node:crypto';
import { sep } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { toPath } from '../../projections/entries.js';
import type { Db } from '../../library/library.js';
import type { CollectionsDoc } from '../../sync/shared-schema.js';
import { check, defineCommand, defineQuery } from '../define.js';
import { Name } from '../names.js';
import { deviceRef } from '../entry/queries.js';
import { resolveFiles } from '../entry/resolve.js';
import { recordShared } from '../tag/index.js';

type Items = Record<string, number>;

export function findCollection(db: Db, ref: string): { id: string; name: string } {
  const rows = db.prepare('SELECT id, name FROM collections WHERE name = ? OR id = ?').all(ref, ref) as {
    id: string;
    name: string;
  }[];
  if (rows.length === 1) return rows[0]!;
  if (rows.length > 1)
    throw new SdError('E_AMBIGUOUS_COLLECTION', `${rows.length} collections are named "${ref}"; use the id`);
  throw new SdError('E_COLLECTION_NOT_FOUND', `no collection "${ref}" (see \`sd collection list\`)`);
}

export const createCollection = defineCommand({
  name: 'collection.create',
  shared: true,
  summary: 'create a collection',
  input: z.object({ name: Name }),
  preview: ({ lib }, { name }) => {
    if (lib.db.prepare('SELECT 1 FROM collections WHERE name = ?').get(name))
      throw new SdError('E_COLLECTION_EXISTS', `a collection named "${name}" already exists`);
    return { summary: `create collection "${name}"`, changes: [{ op: 'create', target: `collection "${name}"` }] };
  },
  commit: ({ lib }, plan) => {
    const id = randomUUID();
    // Created with its items map by one device, so no concurrent creation can hide it.
    recordShared(
      lib,
      'collection.create',
      { collection: id, name: plan.input.name },
      lib.shared.change(
        'collections',
        (d: CollectionsDoc) => void (d.collections[id] = { name: plan.input.name, items: {} as never }),
      ),
    );
    return { id };
  },
  verify: ({ lib }, _p, r) => [
    check(!!lib.db.prepare('SELECT 1 FROM collections WHERE id = ?').get(r.id), 'collection is queryable'),
  ],
});

function collectionItems(name: 'collection.add' | 'collection.remove', add: boolean) {
  return defineCommand({
    name,
    shared: true,
    summary: add ? 'add files to a collection' : 'remove files from a collection',
    input: z.object({
      collection: z.string().min(1),
      paths: z.array(z.string().min(1)).min(1),
      recursive: z.boolean().default(false),
      device: z.string().optional(),
    }),
    preview: ({ core, lib }, input) => {
      const c = findCollection(lib.db, input.collection);
      const files = resolveFiles(lib.db, input.paths, deviceRef(lib.db, input.device, core.device.id), input.recursive);
      const have = new Set(
        (lib.db.prepare('SELECT cid FROM collection_items WHERE coll = ?').all(c.id) as { cid: string }[]).map(
          (r) => r.cid,
        ),
      );
      const cids = [...new Set(files.map((f) => f.cid))].filter((cid) => have.has(cid) !== add);
      return {
        summary: `${add ? 'add' : 'remove'} ${cids.length} item(s) ${add ? 'to' : 'from'} "${c.name}"`,
        changes: files.slice(0, 50).map((f) => ({ op: add ? 'add' : 'remove', target: f.path, detail: c.name })),
        data: { id: c.id, cids },
      };
    },
    commit: ({ lib }, plan) => {
      const { id, cids } = plan.data!;
      const base = Date.now() * 1000;
      const changes = lib.shared.change('collections', (d: CollectionsDoc) => {
        const items = d.collections[id]?.items as unknown as Items | undefined;
        if (!items) throw new SdError('E_COLLECTION_NOT_FOUND', 'the collection was deleted meanwhile');
        cids.forEach((cid, i) => {
          if (add) items[cid] = base + i;
          else delete items[cid];
        });
      });
      return { seq: recordShared(lib, name, { collection: id, count: cids.length }, changes), changed: cids.length };
    },
    verify: ({ lib }, plan) => {
      const q = lib.db.prepare('SELECT 1 FROM collection_items WHERE coll = ? AND cid = ?');
      const wrong = plan.data!.cids.filter((c) => !!q.get(plan.data!.id, c) !== add);
      return [check(wrong.length === 0, add ? 'every item is in the collection' : 'no item is left in the collection')];
    },
  });
}
export const addToCollection = collectionItems('collection.add', true);
export const removeFromCollection = collectionItems('collection.remove', false);

export const deleteCollection = defineCommand({
  name: 'collection.delete',
  shared: true,
  summary: 'delete a collection (never the files)',
  input: z.object({ collection: z.string().min(1) }),
  preview: ({ lib }, { collection }) => {
    const c = findCollection(lib.db, collection);
    return {
      summary: `delete collection "${c.name}"`,
      changes: [{ op: 'delete', target: `collection "${c.name}"` }],
      confirm: `Delete collection "${c.name}"?`,
      data: { id: c.id },
    };
  },
  commit: ({ lib }, plan) => ({
    seq: recordShared(
      lib,
      'collection.delete',
      { collection: plan.data!.id },
      lib.shared.change('collections', (d: CollectionsDoc) => void delete d.collections[plan.data!.id]),
    ),
  }),
  verify: ({ lib }, plan) => [
    check(!lib.db.prepare('SELECT 1 FROM collections WHERE id = ?').get(plan.data!.id), 'collection is gone'),
  ],
});

export const listCollections = defineQuery({
  name: 'collection.list',
  summary: 'collections with their sizes',
  input: z.object({}),
  run: ({ db }) =>
    db
      .prepare(
        'SELECT c.id, c.name, (SELECT COUNT(*) FROM collection_items i WHERE i.coll = c.id) AS items FROM collections c ORDER BY c.name',
      )
      .all(),
});

export const showCollection = defineQuery({
  name: 'collection.show',
  summary: 'the items of a collection in order, with their current paths',
  input: z.object({ collection: z.string().min(1) }),
  run: ({ db }, { collection }) => {
    const c = findCollection(db, collection);
    const items = db.prepare('SELECT cid, pos FROM collection_items WHERE coll = ? ORDER BY pos, cid').all(c.id) as {
      cid: string;
      pos: number;
    }[];
    const where = db.prepare(
      'SELECT e.key, e.name, e.size, l.path AS root, l.dev FROM entries e JOIN locations l ON l.id = e.loc WHERE e.cid = ? ORDER BY l.path, e.key',
    );
    return {
      id: c.id,
      name: c.name,
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
