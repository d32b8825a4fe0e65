// A library's shared-metadata documents in automerge-repo: created once by the library's
// creator, opened from SQLite by every member, and changed so that every change's bytes can
// ride in a signed event (applying those bytes again is a no-op).
import * as A from '@automerge/automerge';
import {
  Repo,
  interpretAsDocumentId,
  isValidAutomergeUrl,
  type AutomergeUrl,
  type DocHandle,
  type DocumentId,
  type PeerId,
} from '@automerge/automerge-repo';
import type Database from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { SqliteStorageAdapter } from './storage-adapter.js';
import {
  DOC_NAMES,
  SHARD_NAMES,
  SHARED_SCHEMA_VERSION,
  initialShard,
  type DocName,
  type DocOf,
  type DocUrls,
  type RootDoc,
} from './schema.js';

/** Change bytes per document, as carried by an event. */
export type ChangeSet = Partial<Record<DocName, Uint8Array[]>>;

// Documents each repo may share: peers can neither be offered nor pull anything else.
const shareable = new WeakMap<Repo, Set<DocumentId>>();

export interface LibraryRepoOptions {
  peerId?: string;
  storage?: SqliteStorageAdapter;
}

/**
 * The repo of one library, stored in the library's SQLite. It has no network: between devices,
 * changes travel only inside signed events (a change no verified event carries never reaches a
 * document), and the share policy refuses everything outside the library's documents besides.
 */
export function openLibraryRepo(db: Database.Database, opts: LibraryRepoOptions = {}): Repo {
  const allowed = new Set<DocumentId>();
  const policy = async (_peer: PeerId, documentId?: DocumentId): Promise<boolean> =>
    documentId !== undefined && allowed.has(documentId);
  const repo = new Repo({
    storage: opts.storage ?? new SqliteStorageAdapter(db),
    network: [],
    ...(opts.peerId ? { peerId: opts.peerId as PeerId } : {}),
    shareConfig: { announce: policy, access: policy },
    saveDebounceRate: SAVE_THROTTLE_MS,
  });
  shareable.set(repo, allowed);
  return repo;
}

// automerge-repo saves (and persists peers' sync states) on a throttle of this many ms.
const SAVE_THROTTLE_MS = 100;

/** Lets a repo go without saving anything (its storage is detached and its database deleted next). */
export function discardLibraryRepo(repo: Repo): void {
  for (const a of repo.networkSubsystem.adapters) a.disconnect();
}

/**
 * Stops the repo so its SQLite database can be closed: disconnects the network, writes every
 * ready document, then outlasts the save throttle so no write fires on a closed database.
 * (Repo.shutdown() rejects if any handle is unavailable, e.g. after a failed find.)
 */
export async function closeLibraryRepo(repo: Repo): Promise<void> {
  for (const a of repo.networkSubsystem.adapters) a.disconnect();
  const ready = () =>
    Object.values(repo.handles)
      .filter((h) => h.isReady())
      .map((h) => h.documentId);
  await repo.flush(ready());
  await new Promise((r) => setTimeout(r, SAVE_THROTTLE_MS + 20));
  await repo.flush(ready());
}

function allow(repo: Repo, documentId: DocumentId): void {
  shareable.get(repo)?.add(documentId);
}

/** Changes `handle` with `fn` and returns the bytes of the change made ([] if fn changed nothing). */
export function changeWithBytes<T>(handle: DocHandle<T>, fn: A.ChangeFn<T>, message?: string): Uint8Array[] {
  const before = A.getHeads(handle.doc());
  handle.change(fn, message === undefined ? {} : { message });
  return A.getChangesSince(handle.doc(), before);
}

/** Applies change bytes (from an event or a peer); returns whether the document moved. Idempotent. */
export function applyChangeBytes<T>(handle: DocHandle<T>, changes: Uint8Array[]): boolean {
  if (changes.length === 0) return false;
  const before = handle.heads().join(',');
  handle.update((doc) => A.applyChanges(doc, changes)[0]);
  return handle.heads().join(',') !== before;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export class LibraryDocs {
  constructor(
    readonly repo: Repo,
    readonly urls: DocUrls,
    private readonly handles: Map<DocName, DocHandle<unknown>>,
  ) {}

  handle<K extends DocName>(name: K): DocHandle<DocOf<K>> {
    const h = this.handles.get(name);
    if (!h) throw new SdError('E_LIBRARY_DOC_MISSING', `the library document "${name}" is not open`);
    return h as DocHandle<DocOf<K>>;
  }

  doc<K extends DocName>(name: K): A.Doc<DocOf<K>> {
    return this.handle(name).doc();
  }

  /** One Automerge change on one document; returns its bytes for the event that records it. */
  change<K extends DocName>(name: K, fn: A.ChangeFn<DocOf<K>>, message?: string): ChangeSet {
    const bytes = changeWithBytes(this.handle(name), fn, message);
    return bytes.length ? ({ [name]: bytes } as ChangeSet) : {};
  }

  /** Applies an event's change set; returns the documents that moved. Applying twice is a no-op. */
  apply(set: ChangeSet): DocName[] {
    const moved: DocName[] = [];
    for (const [name, changes] of Object.entries(set) as [DocName, Uint8Array[]][]) {
      if (applyChangeBytes(this.handle(name), changes)) moved.push(name);
    }
    return moved;
  }

  /** Every change of every document: what a new member needs to start from nothing. */
  allChanges(): ChangeSet {
    const set: ChangeSet = {};
    for (const name of DOC_NAMES) set[name] = A.getAllChanges(this.handle(name).doc());
    return set;
  }

  /** Writes every document to SQLite now (automerge-repo otherwise saves on a short throttle). */
  async flush(): Promise<void> {
    await this.repo.flush([...this.handles.values()].map((h) => h.documentId));
  }
}

/**
 * Creates the root and every shard, each with its top-level map, in this repo. Only the
 * device that creates the library calls this; the others open (or receive) what it made.
 */
export async function createLibraryDocs(repo: Repo, opts: { name?: string } = {}): Promise<LibraryDocs> {
  const handles = new Map<DocName, DocHandle<unknown>>();
  const urls: Partial<DocUrls> = {};
  for (const name of SHARD_NAMES) {
    const h = repo.create(initialShard(name));
    handles.set(name, h as DocHandle<unknown>);
    urls[name] = h.url;
  }
  const root = repo.create<RootDoc>({
    schema: SHARED_SCHEMA_VERSION,
    name: opts.name ?? '',
    docs: { ...(urls as Record<string, string>) },
  });
  handles.set('root', root as DocHandle<unknown>);
  urls.root = root.url;
  for (const h of handles.values()) allow(repo, h.documentId);
  const docs = new LibraryDocs(repo, urls as DocUrls, handles);
  await docs.flush();
  return docs;
}

/** Reads the shard URLs out of an open root document. */
export function docUrlsOf(rootUrl: string, root: RootDoc): DocUrls {
  const urls: Partial<DocUrls> = { root: rootUrl };
  for (const name of SHARD_NAMES) {
    const u = root.docs[name];
    if (!u) throw new SdError('E_LIBRARY_DOC_MISSING', `the library root does not list its "${name}" document`);
    urls[name] = u;
  }
  return urls as DocUrls;
}

/**
 * Opens every document of a library from storage (or its peers, if the repo has a network).
 * `received` gives, for a document this device has never stored (a new member's), the document
 * the log's changes built or those change bytes: it is imported, not created.
 */
export async function openLibraryDocs(
  repo: Repo,
  urls: DocUrls,
  received: ChangeSet | ((name: DocName) => A.Doc<unknown> | Uint8Array[] | undefined) = {},
): Promise<LibraryDocs> {
  const ids = DOC_NAMES.map((name) => {
    const url = urls[name];
    if (!isValidAutomergeUrl(url))
      throw new SdError('E_BAD_DOC_URL', `"${url}" is not an automerge URL (library document "${name}")`);
    const documentId = interpretAsDocumentId(url);
    // Before find(): the share policy also gates our own request to peers, and their answers.
    allow(repo, documentId);
    return documentId;
  });
  // In parallel: over a network each find is a round trip.
  const found = await Promise.all(
    ids.map((id) => repo.find<unknown>(id, { allowableStates: ['ready', 'unavailable'] })),
  );
  const given = (name: DocName) => (typeof received === 'function' ? received(name) : received[name]);
  const handles = new Map<DocName, DocHandle<unknown>>();
  DOC_NAMES.forEach((name, i) => {
    let handle = found[i]!;
    // A stored document takes change bytes given as a set; a supplier is asked only for missing ones.
    const got = !handle.isReady() ? given(name) : typeof received === 'function' ? undefined : received[name];
    if (!handle.isReady() && Array.isArray(got) && got.length > 0) {
      // import() on the unavailable handle revives it; flush() below persists it.
      handle = repo.import<unknown>(concat(got), { docId: ids[i]! });
    } else if (!handle.isReady() && got && !Array.isArray(got)) {
      // Imported empty (registered with storage), then given the document whole.
      handle = repo.import<unknown>(new Uint8Array(0), { docId: ids[i]! });
      handle.update(() => got);
    } else if (handle.isReady() && Array.isArray(got)) applyChangeBytes(handle, got);
    if (!handle.isReady())
      throw new SdError(
        'E_LIBRARY_DOC_MISSING',
        `the library document "${name}" is neither stored here nor received from a peer`,
      );
    handles.set(name, handle);
  });
  const docs = new LibraryDocs(repo, urls, handles);
  await docs.flush();
  return docs;
}
