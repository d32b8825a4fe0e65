// A first index hashes each batch's files before it writes the batch, so that every entry is
// written once, with its content id, instead of inserted by the walk and updated again by the
// identify phase (two projection writes and two events per file: most of a first index's main
// thread). Batches are written in walk order, each with the checkpoint it was walked with, so a
// job stopped here resumes after the last batch written; those hashed but not written are walked
// again. A file that could not be hashed (or changed size since its lstat) is written without a
// content id, and the identify phase that follows tries it again and reports the error.
import { FILE, toPath, type EntryTuple } from '../projections/entries.js';
import type { JobContext } from './context.js';
import { fsPathOf } from './names.js';
import type { PhaseClock } from './phase-times.js';

interface Pending<C> {
  ups: EntryTuple[];
  cp: C;
  /** Books the batch's walk and diff times, when it is written. */
  book: () => void;
  /** Resolves to the hashing time to book and the files hashed. */
  hashed: Promise<[number, number]>;
}

export class HashAhead<C> {
  private readonly queue: Pending<C>[] = [];
  /** The end of the last hashing interval booked, so overlapping batches are not counted twice. */
  private booked = 0;

  constructor(
    private readonly ctx: JobContext,
    private readonly root: string,
    private readonly clock: PhaseClock,
    private readonly write: (ups: EntryTuple[], cp: C) => void,
    /** Batches hashed ahead of the one being written. */
    private readonly depth = 3,
  ) {}

  /** Queues a batch (its checkpoint copied by the caller); writes the oldest ones past `depth`. */
  async push(ups: EntryTuple[], cp: C, book: () => void): Promise<void> {
    const files = ups.filter((u) => u[1] === FILE);
    const t0 = performance.now();
    const hashed =
      files.length === 0
        ? Promise.resolve<[number, number]>([0, 0])
        : this.ctx
            .pool()
            .hash(files.map((u) => fsPathOf(this.root, toPath(u[0]))))
            .then((results): [number, number] => {
              const end = performance.now();
              const ms = Math.max(0, end - Math.max(t0, this.booked));
              this.booked = end;
              results.forEach((r, i) => {
                const u = files[i]!;
                if ('error' in r || r.size !== u[2]) return;
                // The kind from the content; the walk's, from the name, when it says no more.
                if (r.kind !== 'other') u[5] = r.kind;
                u[6] = r.contentId;
              });
              return [ms, files.length];
            });
    hashed.catch(() => undefined); // awaited in order below; an early stop must not leave it unhandled
    this.queue.push({ ups, cp, book, hashed });
    // Bounded by depth: each pass writes one batch.
    while (this.queue.length > this.depth) await this.writeOldest();
  }

  /** Writes every queued batch, in order. */
  async drain(): Promise<void> {
    // Bounded by the queue: each pass writes one batch.
    while (this.queue.length > 0) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const b = this.queue.shift()!;
    // Booked with the batch it belongs to, so the checkpoint written with it counts no file
    // hashed ahead of it (those are hashed again after a resume).
    const [ms, n] = await b.hashed;
    b.book();
    this.clock.add('identify', ms, n);
    this.write(b.ups, b.cp);
  }
}
