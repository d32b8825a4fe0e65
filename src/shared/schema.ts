// The shape of a library's shared-metadata documents: one root and a fixed set of shards.
// Every document and its top-level map is created once, by the library's creator: Automerge
// keeps only one of two objects created concurrently at the same key, hiding the other.
import type { ImmutableString } from '@automerge/automerge';
import { SdError } from '../errors.js';

export const SHARED_SCHEMA_VERSION = 1;

export const HEX_DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'] as const;
export type HexDigit = (typeof HEX_DIGITS)[number];
export type AssignShard = `assign-${HexDigit}`;
export const ASSIGN_SHARDS: readonly AssignShard[] = HEX_DIGITS.map((h) => `assign-${h}` as const);

export type ShardName = 'tags' | 'collections' | 'notes' | 'favs' | AssignShard;
export const SHARD_NAMES: readonly ShardName[] = ['tags', 'collections', 'notes', 'favs', ...ASSIGN_SHARDS];
export type DocName = 'root' | ShardName;
export const DOC_NAMES: readonly DocName[] = ['root', ...SHARD_NAMES];

/** automerge URLs of every document of a library, by name. */
export type DocUrls = Record<DocName, string>;

export interface RootDoc {
  schema: number;
  name: string;
  /** The shard URLs, so a device that knows only the root URL can find the rest. */
  docs: Record<string, string>;
}

/** Tags keep objects: a rename and a recolour made concurrently both survive, field by field. */
export interface Tag {
  name: string;
  color: string | null;
  parent: string | null;
}
export interface TagsDoc {
  tags: Record<string, Tag>;
}

/**
 * Assignments are flat keys `contentId:tagId` -> true rather than contentId -> {tagId: true}:
 * two devices tagging the same new content concurrently would each create the inner map, and
 * Automerge would hide one of them with its tags. Scalar values also keep changes cheap.
 */
export interface AssignDoc {
  a: Record<string, true>;
}

export interface Collection {
  name: string;
  /** Created together with the collection, by the collection's creator: no concurrent creation. */
  items: Record<string, true>;
}
export interface CollectionsDoc {
  collections: Record<string, Collection>;
}

/** A note is replaced whole (last writer wins); ImmutableString keeps big maps cheap to change. */
export interface NotesDoc {
  notes: Record<string, ImmutableString>;
}

export interface FavsDoc {
  favs: Record<string, true>;
}

export type DocOf<K extends DocName> = K extends 'root'
  ? RootDoc
  : K extends 'tags'
    ? TagsDoc
    : K extends 'collections'
      ? CollectionsDoc
      : K extends 'notes'
        ? NotesDoc
        : K extends 'favs'
          ? FavsDoc
          : AssignDoc;

/** The empty document each shard starts as, top-level map included. */
export function initialShard(name: ShardName): DocOf<ShardName> {
  switch (name) {
    case 'tags':
      return { tags: {} };
    case 'collections':
      return { collections: {} };
    case 'notes':
      return { notes: {} };
    case 'favs':
      return { favs: {} };
    default:
      return { a: {} };
  }
}

const CONTENT_ID = /^[0-9a-f]{2,}$/;

export function assertContentId(contentId: string): void {
  if (!CONTENT_ID.test(contentId))
    throw new SdError('E_BAD_CONTENT_ID', `"${contentId}" is not a content id (lowercase hex)`);
}

/** Tag assignments are sharded by the first hex digit of the content id. */
export function assignShardOf(contentId: string): AssignShard {
  assertContentId(contentId);
  return `assign-${contentId[0] as HexDigit}`;
}

export function assignKey(contentId: string, tagId: string): string {
  assertContentId(contentId);
  if (tagId === '') throw new SdError('E_BAD_TAG_ID', 'a tag id cannot be empty');
  return `${contentId}:${tagId}`;
}

/** Splits at the first ':' (content ids are hex, so the tag id keeps any ':' of its own). */
export function parseAssignKey(key: string): { contentId: string; tagId: string } {
  const at = key.indexOf(':');
  return { contentId: key.slice(0, at), tagId: key.slice(at + 1) };
}
