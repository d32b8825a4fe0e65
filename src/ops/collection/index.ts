// Collections: ordered sets of content, shared metadata like tags. Items are keyed by content
// id with a position number, so concurrent additions on two devices both survive. Collections of
// one name are one collection to these commands (see ../tag/named.ts): items the union.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { CollectionsDoc } from '../../shared/schema.js';
import { check, defineCommand } from '../define.js';
import { Name } from '../names.js';
import { deviceRef } from '../entry/queries.js';
import { resolveFiles } from '../entry/resolve.js';
import { recordShared } from '../tag/index.js';
import { contentOf, idsNamed, marks, others, resolveNamed } from '../tag/named.js';

export { listCollections, showCollection } from './queries.js';

type Items = Record<string, number>;

export const createCollection = defineCommand({
  name: 'collection.create',
  shared: true,
  summary: 'create a collection',
  input: z.object({ name: Name }),
  preview: ({ lib }, { name }) => {
    if (idsNamed(lib.db, 'collection', name).length)
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
      const g = resolveNamed(lib.db, 'collection', input.collection);
      const files = resolveFiles(lib.db, input.paths, deviceRef(lib.db, input.device, core.device.id), input.recursive);
      // In the collection when in any collection of its name; added to the first, removed from all.
      const have = contentOf(lib.db, 'collection', g.ids);
      const cids = [...new Set(files.map((f) => f.cid))].filter((cid) => have.has(cid) !== add);
      return {
        summary: `${add ? 'add' : 'remove'} ${cids.length} item(s) ${add ? 'to' : 'from'} "${g.name}"`,
        changes: files.slice(0, 50).map((f) => ({ op: add ? 'add' : 'remove', target: f.path, detail: g.name })),
        data: { id: g.id, ids: g.ids, cids },
      };
    },
    commit: ({ lib }, plan) => {
      const { id, ids, cids } = plan.data!;
      const base = Date.now() * 1000;
      const changes = lib.shared.change('collections', (d: CollectionsDoc) => {
        const items = d.collections[id]?.items as unknown as Items | undefined;
        if (!items) throw new SdError('E_COLLECTION_NOT_FOUND', 'the collection was deleted meanwhile');
        if (add) cids.forEach((cid, i) => (items[cid] = base + i));
        else
          for (const c of ids) {
            const from = d.collections[c]?.items as unknown as Items | undefined;
            for (const cid of cids) if (from && cid in from) delete from[cid];
          }
      });
      return { seq: recordShared(lib, name, { collection: id, count: cids.length }, changes), changed: cids.length };
    },
    verify: ({ lib }, plan) => {
      const have = contentOf(lib.db, 'collection', plan.data!.ids);
      const wrong = plan.data!.cids.filter((c) => have.has(c) !== add);
      return [check(wrong.length === 0, add ? 'every item is in the collection' : 'no item is left in the collection')];
    },
  });
}
export const addToCollection = collectionItems('collection.add', true);
export const removeFromCollection = collectionItems('collection.remove', false);

export const renameCollection = defineCommand({
  name: 'collection.rename',
  shared: true,
  summary: 'rename a collection (onto the name of another collection: merge them)',
  input: z.object({ collection: z.string().min(1), name: Name }),
  preview: ({ lib }, { collection, name }) => {
    const g = resolveNamed(lib.db, 'collection', collection);
    const into = idsNamed(lib.db, 'collection', name).filter((id) => !g.ids.includes(id));
    const merge = into.length > 0;
    return {
      summary: merge
        ? `rename collection "${g.name}" to "${name}", merging it with the collection "${name}"`
        : `rename collection "${g.name}" to "${name}"`,
      changes: g.ids.map((id) => ({
        op: 'update',
        target: `collection ${id.slice(0, 8)}`,
        detail: `"${g.name}" -> "${name}"`,
      })),
      warnings: merge ? [`collections of one name are one collection: "${g.name}" and "${name}" become one`] : [],
      confirm: merge ? `Merge collection "${g.name}" into "${name}"?` : undefined,
      data: { ids: g.ids, also: others(g) },
    };
  },
  commit: ({ lib }, plan) => {
    const { ids, also } = plan.data!;
    const changes = lib.shared.change('collections', (d: CollectionsDoc) => {
      for (const id of ids) {
        const c = d.collections[id];
        if (!c) throw new SdError('E_COLLECTION_NOT_FOUND', 'the collection was deleted meanwhile');
        if (c.name !== plan.input.name) c.name = plan.input.name;
      }
    });
    const info = { collection: ids[0]!, name: plan.input.name, also };
    return { seq: recordShared(lib, 'collection.rename', info, changes) };
  },
  verify: ({ lib }, plan) => {
    const q = lib.db.prepare('SELECT name FROM collections WHERE id = ?');
    const ok = plan.data!.ids.every((id) => (q.get(id) as { name: string } | undefined)?.name === plan.input.name);
    return [check(ok, 'collection has the new name')];
  },
});

export const deleteCollection = defineCommand({
  name: 'collection.delete',
  shared: true,
  summary: 'delete a collection (never the files)',
  input: z.object({ collection: z.string().min(1) }),
  preview: ({ lib }, { collection }) => {
    const g = resolveNamed(lib.db, 'collection', collection);
    const n = contentOf(lib.db, 'collection', g.ids).size;
    return {
      summary: `delete collection "${g.name}"`,
      changes: [{ op: 'delete', target: `collection "${g.name}"`, detail: `${n} item(s); the files stay` }],
      confirm: `Delete collection "${g.name}"?`,
      data: { ids: g.ids, also: others(g) },
    };
  },
  commit: ({ lib }, plan) => {
    const { ids, also } = plan.data!;
    const changes = lib.shared.change('collections', (d: CollectionsDoc) => {
      for (const id of ids) delete d.collections[id];
    });
    return { seq: recordShared(lib, 'collection.delete', { collection: ids[0]!, also }, changes) };
  },
  verify: ({ lib }, plan) => {
    const ids = plan.data!.ids;
    const left = lib.db.prepare(`SELECT 1 FROM collections WHERE id IN (${marks(ids.length)})`).get(...ids);
    return [check(!left, 'collection is gone')];
  },
});
