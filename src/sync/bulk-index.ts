// A feed that streams a large index into this library (a new member's first sync, a device back
// from indexing a big tree) leaves the content-id index out while it streams and builds it once
// at the end, as a first index does (jobs/index-phases.ts): rows then arrive in key order and only
// the content ids land in random places, which made that index the largest share of storing them
// (measured: 100,000 rows 1.3-2.0 s with it, 0.65-0.8 s without, 0.1-0.35 s to build it after).
// Meanwhile a lookup by content id scans the table: slower, never wrong. A crash while it is
// dropped is mended at the next open (the schema creates it when missing).
import type { Library } from '../library/library.js';
import { CID_INDEX_DDL } from '../projections/entries.js';
import type { StoredEvent } from '../events/log.js';

/**
 * A batch carrying at least this many index rows starts a bulk stream, if the library holds fewer
 * than four times as many entries: building the index again reads every entry, so a catch-up of a
 * few thousand rows into a big library keeps it.
 */
let bulkRows = 10_000;
/** A bulk stream that receives nothing for this long gives the index back (a peer that stalls). */
let idleMs = 2_000;

/** Tests only: the thresholds (rows in one batch; ms without a batch). */
export function setBulkStreamForTests(rows: number, idle = 2_000): void {
  bulkRows = rows;
  idleMs = idle;
}

// Streams holding the index out, per library: it comes back when the last one ends.
const holders = new WeakMap<Library, number>();

function hold(lib: Library): void {
  const n = holders.get(lib) ?? 0;
  if (n === 0) {
    lib.flush();
    lib.db.exec('DROP INDEX IF EXISTS entries_by_cid');
  }
  holders.set(lib, n + 1);
}

function release(lib: Library): void {
  const n = (holders.get(lib) ?? 1) - 1;
  holders.set(lib, n);
  if (n > 0 || !lib.db.open) return;
  lib.flush();
  lib.db.exec(CID_INDEX_DDL);
}

/** Whether the content-id index is left out right now (status and tests). */
export function cidIndexHeldOut(lib: Library): boolean {
  return (holders.get(lib) ?? 0) > 0;
}

function indexRows(events: StoredEvent[]): number {
  let n = 0;
  for (const ev of events)
    if (ev.type === 'entries.upserted' || ev.type === 'entries.identified') {
      const e = (ev.body as { e?: unknown }).e;
      if (Array.isArray(e)) n += e.length;
    }
  return n;
}

/** The bulk streams of one feed session, one per device feed at most. */
export class BulkStreams {
  private readonly open = new Map<string, NodeJS.Timeout>();

  constructor(private readonly lib: Library) {}

  /** Before a batch is stored: a large batch starts a bulk stream; any batch keeps one going. */
  before(dev: string, accepted: StoredEvent[]): void {
    const timer = this.open.get(dev);
    if (timer) return void timer.refresh();
    const rows = indexRows(accepted);
    if (rows < bulkRows) return;
    const held = (this.lib.db.prepare('SELECT max(id) AS n FROM entries').get() as { n: number | null }).n ?? 0;
    if (held > 4 * rows) return;
    hold(this.lib);
    const t = setTimeout(() => this.end(dev), idleMs);
    t.unref();
    this.open.set(dev, t);
  }

  /** After a batch: the stream ends once we hold the peer's head of that feed (or it was refused). */
  after(dev: string, done: boolean): void {
    if (done) this.end(dev);
  }

  end(dev: string): void {
    const t = this.open.get(dev);
    if (!t) return;
    clearTimeout(t);
    this.open.delete(dev);
    release(this.lib);
  }

  /** The session closed: every stream it held ends. */
  close(): void {
    for (const dev of [...this.open.keys()]) this.end(dev);
  }
}
