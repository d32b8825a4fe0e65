// Tags and collections are one per name. Two devices that create "red" while apart end up with two
// objects of that name in the shared documents (their ids differ); to every command and query that
// takes a name they are one tag: the union of their files, applied through the one with the
// smallest id (every device picks the same), renamed and deleted together. An id (or an id prefix)
// still addresses one object. The documents and projections keep both; only this layer merges.
import { SdError } from '../../errors.js';
import type { Db } from '../../library/library.js';
import { didYouMean } from '../suggest.js';
import type { ReadDb } from '../host.js';

export type NamedKind = 'tag' | 'collection';

/** What a reference names: every object of one name (or the one object an id names). */
export interface NamedGroup {
  name: string;
  /** Every id the reference covers, smallest first. */
  ids: string[];
  /** Where additions go: the smallest id of the name. */
  id: string;
}

const TABLE = { tag: 'tags', collection: 'collections' } as const;
const CODES = {
  tag: { missing: 'E_TAG_NOT_FOUND', ambiguous: 'E_AMBIGUOUS_TAG', list: 'sd tag list' },
  collection: { missing: 'E_COLLECTION_NOT_FOUND', ambiguous: 'E_AMBIGUOUS_COLLECTION', list: 'sd collection list' },
} as const;

/** Every object called `name`, smallest id first (SQLite's byte order, the same on every device). */
export function idsNamed(db: ReadDb, kind: NamedKind, name: string): string[] {
  return (db.prepare(`SELECT id FROM ${TABLE[kind]} WHERE name = ? ORDER BY id`).all(name) as { id: string }[]).map(
    (r) => r.id,
  );
}

/**
 * The objects `ref` names: an id (exactly), else every object with that name, else the one whose
 * id starts with `ref` (4+ characters). Unknown: an error with the closest names.
 */
export function resolveNamed(db: ReadDb, kind: NamedKind, ref: string): NamedGroup {
  const table = TABLE[kind];
  const byId = db.prepare(`SELECT id, name FROM ${table} WHERE id = ?`).get(ref) as
    { id: string; name: string } | undefined;
  if (byId) return { name: byId.name, ids: [byId.id], id: byId.id };
  const ids = idsNamed(db, kind, ref);
  if (ids.length) return { name: ref, ids, id: ids[0]! };
  if (ref.length >= 4) {
    const hits = db
      .prepare(`SELECT id, name FROM ${table} WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 10`)
      .all(ref.length, ref) as { id: string; name: string }[];
    if (hits.length === 1) return { name: hits[0]!.name, ids: [hits[0]!.id], id: hits[0]!.id };
    if (hits.length > 1)
      throw new SdError(
        CODES[kind].ambiguous,
        `"${ref}" starts the ids of ${hits.length} ${kind}s; use more of the id`,
      );
  }
  const names = (db.prepare(`SELECT DISTINCT name FROM ${table}`).all() as { name: string }[]).map((r) => r.name);
  throw new SdError(
    CODES[kind].missing,
    `no ${kind} "${ref}" in this library.${didYouMean(ref, names)} See \`${CODES[kind].list}\`.`,
    { [kind]: ref },
  );
}

/** `n` placeholders for an IN list. */
export const marks = (n: number): string => Array(n).fill('?').join(', ');

/** The content ids carrying any of `ids` (tags) or held by any of them (collections). */
export function contentOf(db: ReadDb, kind: NamedKind, ids: string[]): Set<string> {
  const sql =
    kind === 'tag'
      ? `SELECT DISTINCT cid FROM tag_assign WHERE tag IN (${marks(ids.length)})`
      : `SELECT DISTINCT cid FROM collection_items WHERE coll IN (${marks(ids.length)})`;
  return new Set((db.prepare(sql).all(...ids) as { cid: string }[]).map((r) => r.cid));
}

/** The extra ids of a group, for an event body (scalars only): "" when there is one. */
export const others = (g: NamedGroup): string =>
  g.ids
    .filter((i) => i !== g.id)
    .slice(0, 100)
    .join(',');
