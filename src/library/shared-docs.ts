// A library's Automerge documents (tags, collections, notes, favourites): opened lazily, once, by
// the first shared-metadata command or peer link, and dropped when a rebuild finds they may hold
// changes that no longer count. Until they are open, shared events project through plain
// documents rebuilt from the log (shared/provider.ts PlainDocs).
import type { Repo } from '@automerge/automerge-repo';
import { SdError } from '../errors.js';
import type { Db } from '../store/database.js';
import type { StoredEvent } from '../events/log.js';
import { rowToEvent } from '../events/log.js';
import type { ProjectionContext } from '../projections/types.js';
import { COUNTS } from '../projections/rules.js';
import {
  closeLibraryRepo,
  discardLibraryRepo,
  createLibraryDocs,
  openLibraryDocs,
  openLibraryRepo,
  type ChangeSet,
  type LibraryDocs,
} from '../shared/docs.js';
import { PlainDocs, RepoDocs } from '../shared/provider.js';
import { DOC_NAMES, type DocUrls } from '../shared/schema.js';
import { SqliteStorageAdapter, STORAGE_TABLE } from '../shared/storage-adapter.js';

/** What the documents need of their library. */
export interface SharedHost {
  readonly id: string;
  readonly db: Db;
  /** The library's name now (the creator's documents carry it). */
  name(): string;
  readonly projection: ProjectionContext;
  /** Appends one event of this device in a unit of its own (the creator's 'shared.created'). */
  appendAlone(type: string, body: unknown): void;
  onEvent(fn: (ev: StoredEvent) => void): () => void;
}

/** Every change byte that counts in the log for the shared documents, merged per document. */
export function sharedChangesFromLog(db: Db): ChangeSet {
  const set: ChangeSet = {};
  const rows = db
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

export class LibraryShared {
  repo: Repo | undefined;
  /** The repo's storage; detached when a rebuild drops documents that hold changes which no longer count. */
  private storage: SqliteStorageAdapter | undefined;
  private docs: LibraryDocs | undefined;
  /** Set while a member opens the documents it just received. */
  opening: Promise<void> | undefined;
  private start: Promise<void> | undefined;

  constructor(private readonly host: SharedHost) {}

  /** The open documents, or E_SHARED_NOT_READY. */
  get open(): LibraryDocs {
    if (!this.docs) throw new SdError('E_SHARED_NOT_READY', 'the shared metadata of this library is not open yet');
    return this.docs;
  }

  /** Opens the documents once (see Library.ensureShared). */
  ensure(deviceId: string): Promise<void> {
    return (this.start ??= this.openDocs(deviceId));
  }

  /**
   * The creator creates the documents once and records their initial changes in a
   * 'shared.created' event; everyone else opens what is stored, or rebuilds it from the change
   * bytes in the log.
   */
  private async openDocs(deviceId: string): Promise<void> {
    const { db, id, projection } = this.host;
    this.repo ??= openLibraryRepo(db, {
      peerId: `${deviceId}.${id.slice(0, 8)}`,
      storage: (this.storage = new SqliteStorageAdapter(db)),
    });
    const urlRow = db.prepare("SELECT value FROM library_meta WHERE key = 'docs'").get() as
      { value: string } | undefined;
    if (!urlRow) {
      const creator = db.prepare("SELECT value FROM library_meta WHERE key = 'created_by'").get() as
        { value: string } | undefined;
      if (creator?.value !== deviceId) {
        // A member waits for the creator's documents: they arrive in its 'shared.created'
        // event; until the repo has them, the plain documents registered at open project.
        const stop = this.host.onEvent((ev) => {
          if (ev.type !== 'shared.created') return;
          stop();
          this.opening = this.openDocs(deviceId).catch(() => undefined);
        });
        return;
      }
      const docs = await createLibraryDocs(this.repo, { name: this.host.name() });
      this.attach(docs);
      this.host.appendAlone('shared.created', { urls: docs.urls, changes: docs.allChanges() });
      await docs.flush();
      return;
    }
    const urls = JSON.parse(urlRow.value) as DocUrls;
    // A document the repo has not stored (a new member's, just received) starts as a copy of the
    // one the log's changes built for the projection, else from those changes read again.
    const plain = projection.shared instanceof PlainDocs ? projection.shared : undefined;
    let fromLog: ChangeSet | undefined;
    const docs = await openLibraryDocs(
      this.repo,
      urls,
      (name) => plain?.copyOf(name) ?? (fromLog ??= sharedChangesFromLog(db))[name],
    );
    const prov = this.attach(docs);
    // A crash can leave the repo's storage behind the projection: catch up from the log.
    if (DOC_NAMES.some((n) => !prov.consistent(n))) docs.apply(sharedChangesFromLog(db));
  }

  private attach(docs: LibraryDocs): RepoDocs {
    this.docs = docs;
    const prov = new RepoDocs(docs, this.host.db);
    this.host.projection.shared = prov;
    return prov;
  }

  /**
   * A rebuild re-projects every shared change that counts from empty documents; the repo's
   * documents may hold changes that no longer count (a late revocation), so they are dropped and
   * reopened from the log by the next shared command.
   */
  reset(): void {
    this.storage?.detach();
    this.storage = undefined;
    this.repo = undefined;
    this.docs = undefined;
    this.start = undefined;
    this.host.db.exec(`DELETE FROM ${STORAGE_TABLE}; DELETE FROM shared_heads;`);
    this.host.projection.shared = new PlainDocs(this.host.db);
  }

  /** Waits for an opening under way. */
  async settle(): Promise<void> {
    await this.start?.catch(() => undefined);
    await this.opening;
  }

  /** Saves the documents (or drops them unsaved, `discard`: the library's files go next). */
  async close(discard: boolean): Promise<void> {
    if (this.repo && discard) {
      this.storage?.detach();
      discardLibraryRepo(this.repo);
    } else if (this.repo) await closeLibraryRepo(this.repo).catch(() => undefined);
    this.repo = undefined;
  }
}
