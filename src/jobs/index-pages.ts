// The projection's entries of a location in key order, as an index job's diff reads them beside
// its walk: raw rows, a page at a time, from one read snapshot.
import type { JobContext } from './context.js';

/** [key, t, size, mtime, inode] of an indexed entry, as the page query returns it. */
export type RawRow = [string, number, number, number, number];
const PAGE = 4096;

/**
 * The projection's entries in key order, read in pages of raw rows (better-sqlite3 builds arrays
 * much faster than objects, and a page query is faster per row than a cursor). A plain cursor
 * object, not a generator: resuming a generator per row was a sixth of a rescan's main thread.
 */
export class Pages {
  private readonly q;
  private rows: RawRow[] = [];
  private i = 0;
  private after: string;
  private last = false;

  constructor(
    db: ReturnType<JobContext['lib']['openReader']>,
    private readonly loc: string,
    lo: string,
    private readonly hi: string,
  ) {
    this.q = db
      .prepare(
        `SELECT key, t, size, mtime, inode FROM entries WHERE loc = ? AND key > ? AND key < ? ORDER BY key LIMIT ${PAGE}`,
      )
      .raw(true);
    this.after = lo;
  }

  next(): RawRow | undefined {
    if (this.i >= this.rows.length) {
      if (this.last) return undefined;
      this.rows = this.q.all(this.loc, this.after, this.hi) as RawRow[];
      this.i = 0;
      this.last = this.rows.length < PAGE;
      if (this.rows.length === 0) return undefined;
      this.after = this.rows[this.rows.length - 1]![0];
    }
    return this.rows[this.i++];
  }
}
