// One library: its SQLite database (log + projections + operational tables), a read-only
// connection for queries, and the single write path `write()` that appends and projects in
// one transaction and publishes the events only once that transaction has committed.
import { openDatabase, openReader, type Db } from '../store/database.js';
import { releaseHeaders, WalCheckpoints } from '../store/checkpoint.js';
import { applyKey } from '../store/cipher.js';
import { reportWriteError } from '../disk.js';
import { GroupWriter } from '../store/writer.js';
import { EventLog, type StoredEvent } from '../events/log.js';
import type { DeviceKeys } from '../events/keys.js';
import { project, rebuildInPlace } from '../projections/index.js';
import { stmt, type ProjectionContext } from '../projections/types.js';
import { batchSharedChanges } from '../projections/shared.js';
import { applyNameQueue, deferNameIndex, NameIndexCatchUp } from '../projections/search-index.js';
import type { ChangeSet, LibraryDocs } from '../shared/docs.js';
import { PlainDocs } from '../shared/provider.js';
import type { Repo } from '@automerge/automerge-repo';
import { LibraryShared, sharedChangesFromLog } from './shared-docs.js';

export type { Db } from '../store/database.js';
export { outsideCommands, recordAppends, type OwnEvents } from '../store/writer.js';

export interface LibraryInfo {
  id: string;
  name: string;
  path: string;
}

export class Library {
  readonly db: Db;
  readonly log: EventLog;
  private roDb: Db | undefined;
  /** keyOf runs for every request a peer makes (a transfer's source asks it per file). */
  private readonly writer: GroupWriter;
  private listeners = new Set<(ev: StoredEvent) => void>();
  private groupListeners = new Set<(evs: StoredEvent[]) => void>();
  /** The Automerge documents, opened on first need (shared-docs.ts). */
  private readonly docs: LibraryShared;
  /** The name index's catch-up after commits (search-index.ts). */
  private readonly names: NameIndexCatchUp;

  private constructor(
    readonly id: string,
    readonly path: string,
    db: Db,
    keys: DeviceKeys,
    private readonly key?: string,
  ) {
    this.db = db;
    this.checkpoints = new WalCheckpoints(path, key);
    this.log = new EventLog(db, id, keys);
    this.writer = new GroupWriter(db, path, id, {
      committed: (evs) => {
        this.published(evs);
        this.checkpoints.committed();
      },
      // The name index's queued deletions and renames are applied once a group (see entries.ts).
      began: () => deferNameIndex(db),
      beforeCommit: () => {
        applyNameQueue(db);
        this.log.settle();
      },
      rolledBack: () => {
        // A whole group lost (not one unit's savepoint): its unsigned events are gone with it.
        if (!db.inTransaction) this.log.discardUnsigned();
        this.log.reloadHead();
        // Plain documents may hold changes of the events rolled back: rebuild them from the log.
        if (this.projection.shared instanceof PlainDocs)
          this.projection.shared = new PlainDocs(db, () => this.sharedChangesFromLog());
      },
    });
    // Until the Automerge documents are open (lazily: queries never need them), shared events
    // from peers project through plain documents rebuilt from the log on first use.
    this.projection = {
      db,
      shared: new PlainDocs(db, () => this.sharedChangesFromLog()),
      rebuilt: () => this.docs.reset(),
    };
    this.docs = new LibraryShared({
      id,
      db,
      projection: this.projection,
      name: () => this.name,
      appendAlone: (type, body) => void this.write(() => this.append(type, body)),
      onEvent: (fn) => this.onEvent(fn),
    });
    // A full disk: the name index catches up later (search meanwhile matches new rows directly).
    this.names = new NameIndexCatchUp(db, (e) => reportWriteError(e, path, 'search index catch-up'));
  }

  /** The log's pages copied back into the database off the main thread (store/checkpoint.ts). */
  private readonly checkpoints: WalCheckpoints;

  /** What the projectors of this database get with each event (the shared documents in use). */
  private readonly projection: ProjectionContext;

  /** Rebuilds every projection from the log in place, in one transaction (`sd replay --rebuild`). */
  rebuild(progress?: (done: number) => void): number {
    const n = this.writer.exclusive(() => rebuildInPlace(this.projection, this.id, progress));
    this.log.reloadHead();
    return n;
  }

  static open(path: string, id: string, keys: DeviceKeys, opts: { create?: boolean; key?: string } = {}): Library {
    return new Library(id, path, openDatabase(path, opts), keys, opts.key);
  }

  /** Where and how another thread opens this database. */
  get opened(): { path: string; key?: string } {
    return this.key ? { path: this.path, key: this.key } : { path: this.path };
  }

  get encrypted(): boolean {
    return this.key !== undefined;
  }

  /** Another connection to this database (snapshots, replays), keyed like this one. */
  openReader(): Db {
    this.flush();
    return openReader(this.path, this.key);
  }

  /** A new scratch database keyed like this one (replay targets of an encrypted library). */
  keyScratch(db: Db): void {
    if (this.key) applyKey(db, this.key);
  }

  /** The key that verifies a device's events: its roster entry, or a pairing trust anchor. */
  keyOf(dev: string): { pubkey: Uint8Array; revokedSeq: number | null } | undefined {
    // Cached statements: the feed asks for every message it receives.
    const r = stmt(this.db, 'SELECT pubkey, revoked_seq FROM devices WHERE dev = ?').get(dev) as
      { pubkey: Buffer; revoked_seq: number | null } | undefined;
    if (r) return { pubkey: new Uint8Array(r.pubkey), revokedSeq: r.revoked_seq };
    const a = stmt(this.db, 'SELECT pubkey FROM trust_anchors WHERE dev = ?').get(dev) as
      { pubkey: Buffer } | undefined;
    return a ? { pubkey: new Uint8Array(a.pubkey), revokedSeq: null } : undefined;
  }

  /** Read-only connection: a query that tries to write fails by construction. */
  get ro(): Db {
    this.flush();
    if (!this.roDb) {
      this.roDb = this.openReader();
    }
    return this.roDb;
  }

  /** The shared-metadata documents (tags, collections, notes, favourites). */
  get shared(): LibraryDocs {
    return this.docs.open;
  }

  /** Set while a member opens the documents it just received (tests wait for it). */
  get sharedOpening(): Promise<void> | undefined {
    return this.docs.opening;
  }

  /** The Automerge repo, once the documents are open. */
  get repo(): Repo | undefined {
    return this.docs.repo;
  }

  /**
   * Opens the shared documents once. A library is opened without them: only shared-metadata
   * commands and peer links need Automerge, and an idle daemon is ~50 MB lighter without it.
   */
  ensureShared(deviceId: string): Promise<void> {
    return this.docs.ensure(deviceId);
  }

  /** Every change byte that counts in the log for the shared documents, merged per document. */
  sharedChangesFromLog(): ChangeSet {
    return sharedChangesFromLog(this.db);
  }

  get name(): string {
    // Prepared once: listing libraries sorts by name (the join's address exchange lists them).
    const row = stmt(this.db, "SELECT value FROM library_meta WHERE key = 'name'").get() as
      { value: string } | undefined;
    return row?.value ?? '(unnamed)';
  }

  /** Appends one event of this device and projects it. Only valid inside write(). */
  append(type: string, body: unknown): StoredEvent {
    const ev = this.log.append(type, body, this.writer.inGroup);
    project(this.projection, ev, true);
    this.writer.appended(ev, true);
    return ev;
  }

  /** Stores and projects events of other devices (already verified), shared changes once a document. */
  appendRemoteAll(evs: StoredEvent[]): void {
    batchSharedChanges(this.projection, () => {
      for (const ev of evs) this.appendRemote(ev);
    });
  }

  /** Stores and projects an event of another device (already verified). Only inside write(). */
  appendRemote(ev: StoredEvent): void {
    this.log.insertVerified(ev);
    project(this.projection, ev);
    this.writer.appended(ev, false);
  }

  /**
   * Runs fn as one atomic unit; units that arrive together share one transaction, committed at
   * the end of the event-loop turn (see GroupWriter). Events are published once committed.
   */
  write<T>(fn: () => T): T {
    return this.writer.write(fn);
  }

  /** Runs fn as a group of its own, committed and published before this returns (see GroupWriter). */
  commitAlone<T>(fn: () => T): T {
    return this.writer.commitAlone(fn);
  }

  /** Commits the open group of writes (if any) and returns the events it published. */
  flush(): StoredEvent[] {
    return this.writer.flush();
  }

  /** A committed group: the name index catches up, then the listeners hear of each event. */
  private published(evs: StoredEvent[]): void {
    if (evs.some((e) => e.type === 'entries.upserted')) this.names.schedule();
    for (const ev of evs) for (const l of this.listeners) l(ev);
    for (const l of this.groupListeners) l(evs);
  }

  /** Indexes every name not yet in the search index (tests, benches, shutdown). */
  flushSearchIndex(): void {
    this.names.flush();
  }

  onEvent(fn: (ev: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Hears each committed group once, with its events in order (what the actors take: one message a group). */
  onCommit(fn: (evs: StoredEvent[]) => void): () => void {
    this.groupListeners.add(fn);
    return () => this.groupListeners.delete(fn);
  }

  /** Empties the page caches of this library's long-lived connections (they refill on use). */
  shrinkMemory(): void {
    if (this.db.open) this.db.pragma('shrink_memory');
    if (this.roDb?.open) this.roDb.pragma('shrink_memory');
  }

  /**
   * Closes the library. `discard`: its files are deleted next (a library removed, or the unused
   * first library a join drops), so its documents are not saved and the log not checkpointed:
   * closing the repo waits for throttled saves (120 ms or more) that would be deleted anyway.
   */
  async close(opts: { discard?: boolean } = {}): Promise<void> {
    await this.docs.settle();
    if (this.db.open) this.flush();
    this.names.stop();
    await this.docs.close(!!opts.discard);
    this.roDb?.close();
    await this.checkpoints.close();
    if (this.db.open) {
      try {
        if (!opts.discard) this.db.pragma('wal_checkpoint(TRUNCATE)');
        // Files deleted next: the checkpoint SQLite runs as it closes need not wait for the disk.
        else this.db.pragma('synchronous = OFF');
      } catch {
        // a busy checkpoint is retried by SQLite on the next open
      }
      this.db.close();
    }
    releaseHeaders();
  }
}
