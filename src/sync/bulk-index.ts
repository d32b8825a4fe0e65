// A feed that streams a large index into this library (a new member's first sync, a device back
// from indexing a big tree) leaves the content-id index out while it streams and builds it once
// at the end, as a first index does (jobs/index-phases.ts): rows then arrive in key order and only
// the content ids land in random places, which made that index the largest share of storing them
// (measured: 100,000 rows 1.3-2.0 s with it, 0.65-0.8 s without, 0.1-0.35 s to build it after).
// It shares the holding with the index jobs (library/cid-index.ts).
import type { Library } from '../library/library.js';
import { holdCidIndexOut } from '../library/cid-index.js';
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
  private readonly open = new Map<string, { timer: NodeJS.Timeout; release: () => void }>();

  constructor(private readonly lib: Library) {}

  /** Before a batch is stored: a large batch starts a bulk stream; any batch keeps one going. */
  before(dev: string, accepted: StoredEvent[]): void {
    const stream = this.open.get(dev);
    if (stream) return void stream.timer.refresh();
    const rows = indexRows(accepted);
    if (rows < bulkRows) return;
    const held = (this.lib.db.prepare('SELECT max(id) AS n FROM entries_t').get() as { n: number | null }).n ?? 0;
    if (held > 4 * rows) return;
    const release = holdCidIndexOut(this.lib);
    const timer = setTimeout(() => this.end(dev), idleMs);
    timer.unref();
    this.open.set(dev, { timer, release });
  }

  /** After a batch: the stream ends once we hold the peer's head of that feed (or it was refused). */
  after(dev: string, done: boolean): void {
    if (done) this.end(dev);
  }

  end(dev: string): void {
    const stream = this.open.get(dev);
    if (!stream) return;
    clearTimeout(stream.timer);
    this.open.delete(dev);
    stream.release();
  }

  /** The session closed: every stream it held ends. */
  close(): void {
    for (const dev of [...this.open.keys()]) this.end(dev);
  }
}
