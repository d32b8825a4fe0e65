// Shared metadata (tags, assignments, collections, notes, favourites) projected from the
// Automerge documents. Events carry the change bytes; the projector applies them and turns
// Automerge's diff since the last projection into row updates, so replaying the log rebuilds
// the same rows on any device.
import * as A from '@automerge/automerge';
import type { Database } from 'better-sqlite3-multiple-ciphers';
import type { SharedProvider } from '../shared/provider.js';
import type { ChangeSet } from '../shared/docs.js';
import type { DocName } from '../shared/schema.js';
import type { ProjectionContext, Projector } from './types.js';
import { stmt } from './types.js';

type AnyDoc = Record<string, Record<string, unknown>>;

/** The ids a patch list touched at depth 1 under `top`, or undefined for "recompute all". */
function touched(patches: A.Patch[] | undefined, top: string): Set<string> | undefined {
  if (!patches) return undefined;
  const ids = new Set<string>();
  for (const p of patches) {
    if (p.path[0] !== top || p.path.length < 2) return undefined;
    ids.add(String(p.path[1]));
  }
  return ids;
}

function projectTags(db: Database, doc: AnyDoc, patches?: A.Patch[]): void {
  const tags = (doc.tags ?? {}) as Record<string, { name: string; color: string | null; parent: string | null }>;
  const ids =
    touched(patches, 'tags') ??
    new Set([...Object.keys(tags), ...(db.prepare('SELECT id FROM tags').all() as { id: string }[]).map((r) => r.id)]);
  for (const id of ids) {
    const t = tags[id];
    if (t)
      stmt(db, 'INSERT OR REPLACE INTO tags (id, name, color, parent) VALUES (?, ?, ?, ?)').run(
        id,
        String(t.name),
        t.color ?? null,
        t.parent ?? null,
      );
    else stmt(db, 'DELETE FROM tags WHERE id = ?').run(id);
  }
}

function projectAssign(db: Database, shard: string, doc: AnyDoc, patches?: A.Patch[]): void {
  const a = (doc.a ?? {}) as Record<string, true>;
  const ins = stmt(db, 'INSERT OR IGNORE INTO tag_assign (cid, tag) VALUES (?, ?)');
  const del = stmt(db, 'DELETE FROM tag_assign WHERE cid = ? AND tag = ?');
  const put = (key: string, on: boolean): void => {
    const at = key.indexOf(':');
    (on ? ins : del).run(key.slice(0, at), key.slice(at + 1));
  };
  const keys = touched(patches, 'a');
  if (keys) {
    for (const k of keys) put(k, a[k] === true);
    return;
  }
  stmt(db, 'DELETE FROM tag_assign WHERE substr(cid, 1, 1) = ?').run(shard.slice('assign-'.length));
  for (const k of Object.keys(a)) put(k, true);
}

function projectCollections(db: Database, doc: AnyDoc, patches?: A.Patch[]): void {
  const cols = (doc.collections ?? {}) as Record<string, { name: string; items: Record<string, number> }>;
  const ids =
    touched(patches, 'collections') ??
    new Set([
      ...Object.keys(cols),
      ...(db.prepare('SELECT id FROM collections').all() as { id: string }[]).map((r) => r.id),
    ]);
  for (const id of ids) {
    stmt(db, 'DELETE FROM collection_items WHERE coll = ?').run(id);
    const c = cols[id];
    if (!c) {
      stmt(db, 'DELETE FROM collections WHERE id = ?').run(id);
      continue;
    }
    stmt(db, 'INSERT OR REPLACE INTO collections (id, name) VALUES (?, ?)').run(id, String(c.name));
    for (const [cid, pos] of Object.entries(c.items ?? {}))
      stmt(db, 'INSERT INTO collection_items (coll, cid, pos) VALUES (?, ?, ?)').run(id, cid, Number(pos));
  }
}

function projectKeyed(db: Database, table: 'notes' | 'favs', doc: AnyDoc, patches?: A.Patch[]): void {
  const m = (doc[table] ?? {}) as Record<string, unknown>;
  const ids =
    touched(patches, table) ??
    new Set([
      ...Object.keys(m),
      ...(db.prepare(`SELECT cid FROM ${table}`).all() as { cid: string }[]).map((r) => r.cid),
    ]);
  for (const cid of ids) {
    const v = m[cid];
    if (v === undefined) stmt(db, `DELETE FROM ${table} WHERE cid = ?`).run(cid);
    else if (table === 'notes') stmt(db, 'INSERT OR REPLACE INTO notes (cid, text) VALUES (?, ?)').run(cid, String(v));
    else stmt(db, 'INSERT OR REPLACE INTO favs (cid) VALUES (?)').run(cid);
  }
}

function projectDoc(db: Database, name: DocName, doc: AnyDoc, patches?: A.Patch[]): void {
  if (name === 'tags') projectTags(db, doc, patches);
  else if (name === 'collections') projectCollections(db, doc, patches);
  else if (name === 'notes' || name === 'favs') projectKeyed(db, name, doc, patches);
  else if (name.startsWith('assign-')) projectAssign(db, name, doc, patches);
}

function applyChangeSet(db: Database, prov: SharedProvider, changes: ChangeSet): void {
  for (const [name, bytes] of Object.entries(changes) as [DocName, Uint8Array[]][]) {
    const doc = prov.apply(
      name,
      (bytes ?? []).map((b) => new Uint8Array(b)),
    );
    const before = prov.projectedHeads(name);
    const after = A.getHeads(doc);
    if (before.join() === after.join()) continue;
    const patches = before.length ? A.diff(doc, before, after) : undefined;
    projectDoc(db, name, doc as unknown as AnyDoc, patches);
    prov.setProjectedHeads(name, after);
  }
}

/** The change bytes of a batch's 'shared.changed' events, per document, held until its end. */
const held = new WeakMap<ProjectionContext, ChangeSet>();

/**
 * Runs fn (the projection of a batch of events) with the changes its 'shared.changed' events carry
 * applied once per document at its end, in event order: Automerge costs ~1 ms a call whatever the
 * change, and the documents (CRDTs) end the same whether their changes come one call at a time or
 * all in one. Nothing but this projector reads the shared documents or their tables meanwhile.
 */
export function batchSharedChanges<T>(ctx: ProjectionContext, fn: () => T): T {
  if (held.has(ctx)) return fn();
  held.set(ctx, {});
  try {
    const out = fn();
    flushSharedChanges(ctx);
    return out;
  } finally {
    held.delete(ctx);
  }
}

/** Applies what a batch holds so far; a roster change or a rebuild in between sees it applied. */
function flushSharedChanges(ctx: ProjectionContext): void {
  const set = held.get(ctx);
  if (!set || Object.keys(set).length === 0) return;
  held.set(ctx, {});
  applyChangeSet(ctx.db, ctx.shared, set);
}

/** Runs fn with the batch's held changes applied first and none held while it runs (a rebuild). */
export function unbatchedShared<T>(ctx: ProjectionContext, fn: () => T): T {
  if (!held.has(ctx)) return fn();
  flushSharedChanges(ctx);
  held.delete(ctx);
  try {
    return fn();
  } finally {
    held.set(ctx, {});
  }
}

export const sharedProjector: Projector = {
  name: 'shared',
  tables: [
    {
      name: 'tags',
      ddl: 'CREATE TABLE IF NOT EXISTS tags (id TEXT PRIMARY KEY, name TEXT NOT NULL, color TEXT, parent TEXT)',
      orderBy: 'id',
    },
    {
      name: 'tag_assign',
      ddl: 'CREATE TABLE IF NOT EXISTS tag_assign (cid TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (cid, tag)) WITHOUT ROWID',
      orderBy: 'cid, tag',
    },
    {
      name: 'collections',
      ddl: 'CREATE TABLE IF NOT EXISTS collections (id TEXT PRIMARY KEY, name TEXT NOT NULL)',
      orderBy: 'id',
    },
    {
      name: 'collection_items',
      ddl: 'CREATE TABLE IF NOT EXISTS collection_items (coll TEXT NOT NULL, cid TEXT NOT NULL, pos REAL NOT NULL, PRIMARY KEY (coll, cid)) WITHOUT ROWID',
      orderBy: 'coll, cid',
    },
    {
      name: 'notes',
      ddl: 'CREATE TABLE IF NOT EXISTS notes (cid TEXT PRIMARY KEY, text TEXT NOT NULL)',
      orderBy: 'cid',
    },
    { name: 'favs', ddl: 'CREATE TABLE IF NOT EXISTS favs (cid TEXT PRIMARY KEY)', orderBy: 'cid' },
  ],
  extraDdl:
    'CREATE INDEX IF NOT EXISTS tag_assign_by_tag ON tag_assign (tag, cid); CREATE INDEX IF NOT EXISTS tags_by_name ON tags (name);',
  handlers: {
    'shared.created': (db, ev, ctx) => {
      const b = ev.body as { urls: Record<string, string>; changes: ChangeSet };
      stmt(db, 'INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)').run('docs', JSON.stringify(b.urls));
      flushSharedChanges(ctx);
      applyChangeSet(db, ctx.shared, b.changes);
    },
    'shared.changed': (db, ev, ctx) => {
      const changes = (ev.body as { changes: ChangeSet }).changes;
      const set = held.get(ctx);
      if (!set) return applyChangeSet(db, ctx.shared, changes);
      for (const [name, list] of Object.entries(changes) as [DocName, Uint8Array[]][])
        (set[name] ??= []).push(...(list ?? []));
    },
  },
};
