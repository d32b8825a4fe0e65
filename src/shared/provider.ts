// Where the shared-metadata projector finds the Automerge documents of a database: the live
// library's automerge-repo handles, or plain in-memory documents rebuilt from the log (replay).
// It also remembers, per document, the heads the SQLite projection last reflected, so the
// projector can turn "what moved since" into row updates with Automerge's diff.
import * as A from '@automerge/automerge';
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { stmt } from '../projections/types.js';
import type { DocName } from './schema.js';
import type { LibraryDocs } from './docs.js';

export interface SharedProvider {
  /** Applies change bytes (a no-op for changes the document has) and returns the document. */
  apply(name: DocName, changes: Uint8Array[]): A.Doc<unknown>;
  projectedHeads(name: DocName): A.Heads;
  setProjectedHeads(name: DocName, heads: A.Heads): void;
}

/**
 * Plain documents; with a db, the projected heads persist so a RepoDocs can take over later (and
 * are read back, so a PlainDocs can take over from one). With `seed`, the documents start from the
 * change bytes the log holds for them rather than empty: read once, for every document at once
 * (an event that touches a document later applies its changes here, so the seed never goes stale).
 */
export class PlainDocs implements SharedProvider {
  private readonly docs = new Map<DocName, A.Doc<unknown>>();
  private readonly heads = new Map<DocName, A.Heads>();
  private seeded: Partial<Record<DocName, Uint8Array[]>> | undefined;

  constructor(
    private readonly db?: Database,
    private readonly seed?: () => Partial<Record<DocName, Uint8Array[]>>,
  ) {
    if (!db) return;
    for (const r of db.prepare('SELECT name, heads FROM shared_heads').all() as { name: DocName; heads: string }[])
      this.heads.set(r.name, JSON.parse(r.heads) as A.Heads);
  }

  apply(name: DocName, changes: Uint8Array[]): A.Doc<unknown> {
    let base = this.docs.get(name);
    if (!base) {
      const from = this.seed ? (this.seeded ??= this.seed())[name] : undefined;
      base = from?.length ? A.applyChanges(A.init<unknown>(), from)[0] : A.init<unknown>();
    }
    const doc = changes.length ? A.applyChanges(base, changes)[0] : base;
    this.docs.set(name, doc);
    return doc;
  }
  /**
   * A copy of a document this provider holds, for the repo that takes over from it (cloning is
   * far cheaper than loading the same changes again); undefined for one it never held.
   */
  copyOf(name: DocName): A.Doc<unknown> | undefined {
    const doc = this.docs.get(name);
    return doc && A.clone(doc);
  }
  projectedHeads(name: DocName): A.Heads {
    return this.heads.get(name) ?? [];
  }
  setProjectedHeads(name: DocName, heads: A.Heads): void {
    this.heads.set(name, heads);
    if (this.db)
      stmt(this.db, 'INSERT OR REPLACE INTO shared_heads (name, heads) VALUES (?, ?)').run(name, JSON.stringify(heads));
  }
}

/** The live library: changes go to the repo's handles; projected heads persist in SQLite. */
export class RepoDocs implements SharedProvider {
  private readonly heads = new Map<DocName, A.Heads>();

  constructor(
    private readonly docs: LibraryDocs,
    private readonly db: Database,
  ) {
    for (const r of db.prepare('SELECT name, heads FROM shared_heads').all() as { name: DocName; heads: string }[])
      this.heads.set(r.name, JSON.parse(r.heads) as A.Heads);
  }

  apply(name: DocName, changes: Uint8Array[]): A.Doc<unknown> {
    const handle = this.docs.handle(name);
    if (changes.length) handle.update((doc) => A.applyChanges(doc, changes)[0]);
    return handle.doc() as A.Doc<unknown>;
  }
  projectedHeads(name: DocName): A.Heads {
    return this.heads.get(name) ?? [];
  }
  setProjectedHeads(name: DocName, heads: A.Heads): void {
    this.heads.set(name, heads);
    stmt(this.db, 'INSERT OR REPLACE INTO shared_heads (name, heads) VALUES (?, ?)').run(name, JSON.stringify(heads));
  }
  /** Whether the repo's stored document still has everything the projection reflects. */
  consistent(name: DocName): boolean {
    const h = this.projectedHeads(name);
    return h.length === 0 || A.hasHeads(this.docs.doc(name) as A.Doc<unknown>, h);
  }
}
