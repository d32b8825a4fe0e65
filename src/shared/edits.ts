// Edits of the shared documents, each returning the change bytes for its event. Bulk edits
// are grouped so each touched shard gets exactly one Automerge change.
import { ImmutableString } from '@automerge/automerge';
import { SdError } from '../errors.js';
import type { ChangeSet, LibraryDocs } from './docs.js';
import { assertContentId, assignKey, assignShardOf, parseAssignKey, type AssignShard, type Tag } from './schema.js';

export interface TagAssignment {
  contentId: string;
  tagId: string;
  /** false removes the assignment. */
  assigned: boolean;
}

/** Applies many assignments as one change per touched shard (and none for untouched ones). */
export function assignTags(docs: LibraryDocs, edits: Iterable<TagAssignment>, message?: string): ChangeSet {
  const byShard = new Map<AssignShard, TagAssignment[]>();
  // Validate everything before changing anything: a bad edit must not leave a half-applied batch.
  for (const e of edits) {
    assignKey(e.contentId, e.tagId);
    const shard = assignShardOf(e.contentId);
    let list = byShard.get(shard);
    if (!list) byShard.set(shard, (list = []));
    list.push(e);
  }
  const set: ChangeSet = {};
  for (const [shard, list] of byShard) {
    Object.assign(
      set,
      docs.change(
        shard,
        (d) => {
          for (const e of list) {
            const key = assignKey(e.contentId, e.tagId);
            if (e.assigned) {
              if (d.a[key] !== true) d.a[key] = true;
            } else if (key in d.a) delete d.a[key];
          }
        },
        message,
      ),
    );
  }
  return set;
}

/** The tag ids assigned to one content (a prefix scan of its shard: the projection is for queries). */
export function tagsOfContent(docs: LibraryDocs, contentId: string): string[] {
  const prefix = `${contentId}:`;
  const a = docs.doc(assignShardOf(contentId)).a;
  return Object.keys(a)
    .filter((k) => k.startsWith(prefix))
    .map((k) => parseAssignKey(k).tagId)
    .sort();
}

/** Creates a tag or changes some of its fields; only the fields given are written. */
export function putTag(docs: LibraryDocs, tagId: string, fields: Partial<Tag>): ChangeSet {
  if (tagId === '') throw new SdError('E_BAD_TAG_ID', 'a tag id cannot be empty');
  return docs.change('tags', (d) => {
    const tag = d.tags[tagId];
    if (!tag) {
      // Tag ids are fresh UUIDs, so no other device creates this object concurrently.
      if (fields.name === undefined) throw new SdError('E_TAG_NOT_FOUND', `no tag ${tagId} to change`);
      d.tags[tagId] = { name: fields.name, color: fields.color ?? null, parent: fields.parent ?? null };
      return;
    }
    if (fields.name !== undefined && tag.name !== fields.name) tag.name = fields.name;
    if (fields.color !== undefined && tag.color !== fields.color) tag.color = fields.color;
    if (fields.parent !== undefined && tag.parent !== fields.parent) tag.parent = fields.parent;
  });
}

export function setNote(docs: LibraryDocs, contentId: string, text: string | null): ChangeSet {
  assertContentId(contentId);
  return docs.change('notes', (d) => {
    if (text === null) delete d.notes[contentId];
    else d.notes[contentId] = new ImmutableString(text);
  });
}

export function noteOf(docs: LibraryDocs, contentId: string): string | undefined {
  return docs.doc('notes').notes[contentId]?.toString();
}

export function setFavourite(docs: LibraryDocs, contentId: string, fav: boolean): ChangeSet {
  assertContentId(contentId);
  return docs.change('favs', (d) => {
    if (fav) d.favs[contentId] = true;
    else delete d.favs[contentId];
  });
}
