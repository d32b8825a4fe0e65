// One library: its SQLite database (log + projections + operational tables), a read-only
// connection for queries, and the single write path `write()` that appends and projects in
// one transaction and publishes the events only once that transaction has committed.
import Database from 'better-sqlite3-multiple-ciphers';
import { AsyncLocalStorage } from 'node:async_hooks';
import { chmodSync, existsSync } from 'node:fs';
import { applyKey } from './crypto.js';
import { SdError } from '../errors.js';
import { reportWriteError } from '../disk.js';
import { EventLog, type StoredEvent } from '../events/log.js';
import type { DeviceKeys } from '../events/keys.js';
import { applySchema, project, rebuildInPlace } from '../projections/index.js';
import type { ProjectionContext } from '../projections/types.js';
import { catchUpSearchIndex } from '../projections/search-index.js';
import {
  closeLibraryRepo,
  createLibraryDocs,
  openLibraryDocs,
  openLibraryRepo,
  type ChangeSet,
  type LibraryDocs,
} from '../sync/shared-docs.js';
import { PlainDocs, RepoDocs } from '../sync/shared-provider.js';
import { DOC_NAMES, type DocUrls } from '../sync/shared-schema.js';
import { rowToEvent } from '../events/log.js';
import type { Repo } from '@automerge/automerge-repo';
import { SqliteStorageAdapter, STORAGE_TABLE } from '../sync/storage-adapter.js';
import { COUNTS } from '../projections/rules.js';
import { decodeEvent } from '../events/codec.js';

export type Db = Database.Database;

/** The events one command appends, whichever library: its own, never a job's that commits meanwhile. */
export interface OwnEvents {
  events: { lib: string; dev: string; seq: number }[];
  /** Set when the command's commit is over: what its timers and handles append later is not its own. */
  closed?: boolean;
}
const commandScope = new AsyncLocalStorage<OwnEvents>();

/** Runs fn with its appends (across awaits) recorded in `scope.events`, until it settles. */
export async function recordAppends<T>(scope: OwnEvents, fn: () => Promise<T>): Promise<T> {
  try {
    return await commandScope.run(scope, fn);
  } finally {
    scope.closed = true;
  }
}

/** Runs fn outside any command's scope (jobs a command queues are not the command). */
export function outsideCommands<T>(fn: () => T): T {
  return commandScope.exit(fn);
}

/** Library format 2: device-bound library and location ids, a roster with admins, a refused-events table. */
export const LIBRARY_FORMAT = 2;

/** The format its creation event declares, or undefined for a database with no events yet. */
function libraryFormat(db: Db): number | undefined {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get()) return undefined;
  const rows = db.prepare("SELECT bytes FROM events WHERE seq = 1 AND type = 'library.created'").all() as {
    bytes: Buffer;
  }[];
  if (rows.length === 0) return undefined;
  const v = rows.map((r) => {
    try {
      return (decodeEvent(r.bytes).body as { v?: unknown }).v;
    } catch {
      return undefined;
    }
  });
  return v.includes(LIBRARY_FORMAT) ? LIBRARY_FORMAT : 1;
}

export interface LibraryInfo {
  id: string;
  name: string;
  path: string;
}

export class Library {
  readonly db: Db;
  readonly log: EventLog;
  private roDb: Db | undefined;
  private pending: StoredEvent[] = [];
  private listeners = new Set<(ev: StoredEvent) => void>();
  repo: Repo | undefined;
  /** The repo's storage; detached when a rebuild drops documents that hold changes which no longer count. */
  private storage: SqliteStorageAdapter | undefined;
  private sharedDocs: LibraryDocs | undefined;
  /** Set while a member opens the documents it just received. */
  sharedOpening: Promise<void> | undefined;
  private sharedStart: Promise<void> | undefined;

  private constructor(
    readonly id: string,
    readonly path: string,
    db: Db,
    keys: DeviceKeys,
    private readonly key?: string,
  ) {
    this.db = db;
    this.log = new EventLog(db, id, keys);
    // better-sqlite3 builds a wrapper per transaction() call: build it once.
    this.txn = db.transaction((fn: () => unknown) => fn());
    // Until the Automerge documents are open (lazily: queries never need them), shared events
    // from peers project through plain documents rebuilt from the log on first use.
    this.projection = {
      db,
      shared: new PlainDocs(db, (name) => this.sharedChangesFromLog()[name] ?? []),
      rebuilt: () => this.resetShared(),
    };
  }

  /** What the projectors of this database get with each event (the shared documents in use). */
  private readonly projection: ProjectionContext;

  /**
   * A rebuild re-projects every shared change that counts from empty documents; the repo's documents
   * may hold changes that no longer count (a late revocation), so they are dropped and reopened
   * from the log by the next shared command.
   */
  private resetShared(): void {
    this.storage?.detach();
    this.storage = undefined;
    this.repo = undefined;
    this.sharedDocs = undefined;
    this.sharedStart = undefined;
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${STORAGE_TABLE} (key TEXT PRIMARY KEY, data BLOB NOT NULL);
      DELETE FROM ${STORAGE_TABLE}; CREATE TABLE IF NOT EXISTS shared_heads (name TEXT PRIMARY KEY, heads TEXT NOT NULL);
      DELETE FROM shared_heads;`);
    this.projection.shared = new PlainDocs(this.db);
  }

  /** Rebuilds every projection from the log in place, in one transaction (`sd replay --rebuild`). */
  rebuild(progress?: (done: number) => void): number {
    this.flush();
    let n = 0;
    this.txn(() => (n = rebuildInPlace(this.projection, this.id, progress)));
    this.log.reloadHead();
    return n;
  }

  private readonly txn: (fn: () => unknown) => unknown;

  static open(path: string, id: string, keys: DeviceKeys, opts: { create?: boolean; key?: string } = {}): Library {
    if (!opts.create && !existsSync(path)) throw new SdError('E_LIBRARY_NOT_FOUND', `no library database at ${path}`);
    let db: Db;
    try {
      db = new Database(path);
      if (opts.key) applyKey(db, opts.key);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('cache_size = -32768'); // 32 MiB: the entry indexes of a large library stay hot
      // Checkpoint every ~32 MiB of WAL instead of 4: an index or a replication streams tens of
      // MiB of pages, and the hot index pages are then copied back once instead of every 4 MiB
      // (measured: upserting 100,000 entries goes from ~140k to ~190k rows/s).
      db.pragma('wal_autocheckpoint = 8000');
      // A damaged file fails here rather than at the first query.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (e) {
      if (opts.key && (e as { code?: string }).code === 'SQLITE_NOTADB')
        throw new SdError('E_BAD_PASSPHRASE', `the passphrase does not unlock ${path}`, { path });
      throw new SdError(
        'E_CORRUPT_DATABASE',
        `the library database ${path} cannot be opened: ${(e as Error).message}; run \`sd doctor\` to see what can be recovered`,
        { path },
      );
    }
    chmodSync(path, 0o600);
    // WAL and SHM exist from here on: private whatever the umask (the daemon also runs with 077).
    for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    const format = libraryFormat(db);
    if (format !== undefined && format < LIBRARY_FORMAT) {
      db.close();
      throw new SdError(
        'E_LIBRARY_FORMAT',
        `the library database ${path} was made by an earlier vdfs (format ${format}; this one reads format ${LIBRARY_FORMAT}): its locations are not bound to their devices, so this version cannot check who may change them; move the file away and re-create the library (re-adding its locations re-indexes them)`,
        { path, format },
      );
    }
    try {
      applySchema(db);
      // The small tables every open reads: damage to them is found now, with the file named.
      db.prepare('SELECT key, value FROM library_meta').all();
      db.prepare('SELECT count(*) FROM devices').get();
    } catch (e) {
      db.close();
      throw new SdError(
        'E_CORRUPT_DATABASE',
        `the library database ${path} is damaged (${(e as Error).message}); run \`sd doctor\` to see what can be recovered`,
        { path },
      );
    }
    db.exec('CREATE TABLE IF NOT EXISTS trust_anchors (dev TEXT PRIMARY KEY, pubkey BLOB NOT NULL)');
    return new Library(id, path, db, keys, opts.key);
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
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    if (this.key) applyKey(db, this.key);
    db.pragma('busy_timeout = 5000');
    return db;
  }

  /** A new scratch database keyed like this one (replay targets of an encrypted library). */
  keyScratch(db: Db): void {
    if (this.key) applyKey(db, this.key);
  }

  /** The key that verifies a device's events: its roster entry, or a pairing trust anchor. */
  keyOf(dev: string): { pubkey: Uint8Array; revokedSeq: number | null } | undefined {
    const r = this.db.prepare('SELECT pubkey, revoked_seq FROM devices WHERE dev = ?').get(dev) as
      { pubkey: Buffer; revoked_seq: number | null } | undefined;
    if (r) return { pubkey: new Uint8Array(r.pubkey), revokedSeq: r.revoked_seq };
    const a = this.db.prepare('SELECT pubkey FROM trust_anchors WHERE dev = ?').get(dev) as
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
    if (!this.sharedDocs)
      throw new SdError('E_SHARED_NOT_READY', 'the shared metadata of this library is not open yet');
    return this.sharedDocs;
  }

  /**
   * Opens the shared documents once. A library is opened without them: only shared-metadata
   * commands and peer links need Automerge, and an idle daemon is ~50 MB lighter without it.
   */
  ensureShared(deviceId: string): Promise<void> {
    return (this.sharedStart ??= this.openShared(deviceId));
  }

  /**
   * Opens the library's Automerge documents. The creator creates them once and records their
   * initial changes in a 'shared.created' event; everyone else opens what is stored, or
   * rebuilds it from the change bytes in the log.
   */
  private async openShared(deviceId: string): Promise<void> {
    this.repo ??= openLibraryRepo(this.db, {
      peerId: `${deviceId}.${this.id.slice(0, 8)}`,
      storage: (this.storage = new SqliteStorageAdapter(this.db)),
    });
    const urlRow = this.db.prepare("SELECT value FROM library_meta WHERE key = 'docs'").get() as
      { value: string } | undefined;
    if (!urlRow) {
      const creator = this.db.prepare("SELECT value FROM library_meta WHERE key = 'created_by'").get() as
        { value: string } | undefined;
      if (creator?.value !== deviceId) {
        // A member waits for the creator's documents: they arrive in its 'shared.created'
        // event; until the repo has them, the plain documents registered at open project.
        const stop = this.onEvent((ev) => {
          if (ev.type !== 'shared.created') return;
          stop();
          this.sharedOpening = this.openShared(deviceId).catch(() => undefined);
        });
        return;
      }
      const docs = await createLibraryDocs(this.repo, { name: this.name });
      this.attachShared(docs);
      this.write(() => this.append('shared.created', { urls: docs.urls, changes: docs.allChanges() }));
      await docs.flush();
      return;
    }
    const urls = JSON.parse(urlRow.value) as DocUrls;
    let docs: LibraryDocs;
    try {
      docs = await openLibraryDocs(this.repo, urls);
    } catch (e) {
      if (!(e instanceof SdError) || e.code !== 'E_LIBRARY_DOC_MISSING') throw e;
      docs = await openLibraryDocs(this.repo, urls, this.sharedChangesFromLog());
    }
    const prov = this.attachShared(docs);
    // A crash can leave the repo's storage behind the projection: catch up from the log.
    if (DOC_NAMES.some((n) => !prov.consistent(n))) docs.apply(this.sharedChangesFromLog());
  }

  private attachShared(docs: LibraryDocs): RepoDocs {
    this.sharedDocs = docs;
    const prov = new RepoDocs(docs, this.db);
    this.projection.shared = prov;
    return prov;
  }

  /** Every change byte that counts in the log for the shared documents, merged per document. */
  sharedChangesFromLog(): ChangeSet {
    const set: ChangeSet = {};
    const rows = this.db
      .prepare(
        `SELECT e.dev, e.seq, e.hash, e.type, e.bytes, e.sig FROM events e
         WHERE e.type IN ('shared.created', 'shared.changed') AND ${COUNTS} ORDER BY e.dev, e.seq`,
      )
      .iterate() as IterableIterator<Parameters<typeof rowToEvent>[0]>;
    for (const row of rows) {
      const changes = (rowToEvent(row).body as { changes: ChangeSet }).changes;
      for (const [name, list] of Object.entries(changes) as [keyof ChangeSet, Uint8Array[]][])
        (set[name] ??= []).push(...list.map((b) => new Uint8Array(b)));
    }
    return set;
  }

  get name(): string {
    const row = this.db.prepare("SELECT value FROM library_meta WHERE key = 'name'").get() as
      { value: string } | undefined;
    return row?.value ?? '(unnamed)';
  }

  /** Appends one event of this device and projects it. Only valid inside write(). */
  append(type: string, body: unknown): StoredEvent {
    const ev = this.log.append(type, body);
    project(this.projection, ev, true);
    const scope = commandScope.getStore();
    if (scope && !scope.closed) scope.events.push({ lib: this.id, dev: ev.dev, seq: ev.seq });
    this.pending.push(ev);
    return ev;
  }

  /** Stores and projects an event of another device (already verified). Only inside write(). */
  appendRemote(ev: StoredEvent): void {
    this.log.insertVerified(ev);
    project(this.projection, ev);
    this.pending.push(ev);
  }

  private groupOpen = false;
  private groupUnits = 0;
  private groupTimer: NodeJS.Immediate | undefined;
  private unitDepth = 0;

  /**
   * Runs fn as one atomic unit (a savepoint) and returns at once. Units that arrive together
   * share one SQLite transaction (group commit): it commits at the end of the event-loop turn,
   * after 500 units, or at flush(), and only then are their events published. Whoever reads
   * through another connection (queries, snapshots, verify) or makes the disk depend on a unit
   * calls flush() first.
   */
  write<T>(fn: () => T): T {
    if (this.unitDepth > 0 || (this.db.inTransaction && !this.groupOpen)) return this.txn(fn) as T;
    if (!this.groupOpen) {
      this.db.exec('BEGIN IMMEDIATE');
      this.groupOpen = true;
      this.groupTimer = setImmediate(() => this.flushFromTimer());
    }
    const mark = this.pending.length;
    let out: T;
    this.unitDepth++;
    try {
      out = this.txn(fn) as T;
    } catch (e) {
      // The savepoint rolled back this unit only; the group keeps the others. A full disk can
      // make SQLite roll back the whole transaction: then the group is gone with it.
      this.pending.length = mark;
      if (!this.db.inTransaction) this.dropGroup();
      this.log.reloadHead();
      throw e;
    } finally {
      this.unitDepth--;
    }
    if (++this.groupUnits >= 500) this.flush();
    return out;
  }

  private dropGroup(): void {
    clearImmediate(this.groupTimer);
    this.groupOpen = false;
    this.groupUnits = 0;
    this.pending = [];
  }

  /** The end-of-turn commit: a full disk is reported (its units are lost, as in a crash), not thrown. */
  private flushFromTimer(): void {
    try {
      this.flush();
    } catch (e) {
      if (!reportWriteError(e, this.path, 'commit of a group of writes')) throw e;
    }
  }

  /** Commits the open group (if any) and publishes its events. */
  flush(): void {
    if (!this.groupOpen) return;
    clearImmediate(this.groupTimer);
    this.groupOpen = false;
    this.groupUnits = 0;
    try {
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.pending = [];
      this.log.reloadHead();
      throw e;
    }
    const evs = this.pending;
    this.pending = [];
    if (evs.some((e) => e.type === 'entries.upserted')) this.scheduleSearchIndex();
    for (const ev of evs) for (const l of this.listeners) l(ev);
  }

  private searchTimer: NodeJS.Timeout | undefined;
  private searchFirst = 0;

  /** The name index catches up once writes pause (100 ms), or after 5 s of continuous writes. */
  private scheduleSearchIndex(): void {
    const now = Date.now();
    if (!this.searchTimer) this.searchFirst = now;
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(
      () => this.runSearchIndex(),
      Math.max(0, Math.min(100, this.searchFirst + 5000 - now)),
    );
  }

  private runSearchIndex(): void {
    this.searchTimer = undefined;
    if (!this.db.open) return;
    try {
      if (catchUpSearchIndex(this.db, 4000) === 4000) this.searchTimer = setTimeout(() => this.runSearchIndex(), 0);
    } catch (e) {
      // A full disk: the name index catches up later (search meanwhile matches new rows directly).
      if (!reportWriteError(e, this.path, 'search index catch-up')) throw e;
      this.searchTimer = setTimeout(() => this.runSearchIndex(), 5_000);
      this.searchTimer.unref();
    }
  }

  /** Indexes every name not yet in the search index (tests, benches, shutdown). */
  flushSearchIndex(): void {
    clearTimeout(this.searchTimer);
    this.searchTimer = undefined;
    while (this.db.open && catchUpSearchIndex(this.db, 10_000) > 0);
  }

  onEvent(fn: (ev: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async close(): Promise<void> {
    await this.sharedStart?.catch(() => undefined);
    await this.sharedOpening;
    if (this.db.open) this.flush();
    clearTimeout(this.searchTimer);
    if (this.repo) await closeLibraryRepo(this.repo).catch(() => undefined);
    this.repo = undefined;
    this.roDb?.close();
    if (this.db.open) {
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // a busy checkpoint is retried by SQLite on the next open
      }
      this.db.close();
    }
  }
}
