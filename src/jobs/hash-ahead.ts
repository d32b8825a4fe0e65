// A first index hashes each batch's files before it writes the batch, so that every entry is
// written once, with its content id, instead of inserted by the walk and updated again by the
// identify phase (two projection writes and two events per file: most of a first index's main
// thread). Batches are written in walk order, each with the checkpoint it was walked with, so a
// job stopped here resumes after the last batch written; those hashed but not written are walked
// again. A file that could not be hashed (or changed size since its lstat) is written without a
// content id, and the identify phase that follows tries it again and reports the error.
//
// A first index's walk does not lstat regular files (WalkEntry.unstatted): their tuples hold NaN
// for size, mtime and inode until hashing reads those through the descriptor it reads the file
// through. A file that could not be hashed is lstat'ed there instead; one that vanished meanwhile is
// not written (its error is reported), and one that is no longer a regular file is written as what
// it now is, as the walk's own lstat would have found it a moment later.
import { FILE, toPath, type EntryTuple } from '../projections/entries.js';
import { changedIn, locationChanged, type RootPin } from './beneath.js';
import type { JobContext } from './context.js';
import type { HashResult } from './hash-pool.js';
import type { PhaseClock } from './phase-times.js';
import type { WalkError } from './walk.js';
import { entryAt, REGULAR_FILE, tupleOf } from './walk-stat.js';

interface Hashed {
  /** The hashing time to book and the files hashed. */
  ms: number;
  files: number;
  /** Unstatted files that could not be written, with why. */
  dropped: WalkError[];
  /** Whether an unstatted file turned out not to be a regular file. */
  retyped: boolean;
}

interface Pending<C> {
  ups: EntryTuple[];
  cp: C;
  /** Books the batch's walk and diff times, when it is written. */
  book: () => void;
  hashed: Promise<Hashed>;
}

/** Whether a tuple is an unstatted file's (its attributes come with its content id). */
const unstatted = (u: EntryTuple): boolean => Number.isNaN(u[2]);

export class HashAhead<C> {
  private readonly queue: Pending<C>[] = [];
  /** The end of the last hashing interval booked, so overlapping batches are not counted twice. */
  private booked = 0;

  constructor(
    private readonly ctx: JobContext,
    private readonly root: string,
    private readonly clock: PhaseClock,
    /** `exact`: every entry walked is written, with the type the walk gave it. */
    private readonly write: (ups: EntryTuple[], cp: C, exact: boolean) => void,
    /** The folder the root must still be (beneath.ts openRoot). */
    private readonly pin?: RootPin,
    /** Batches hashed ahead of the one being written. */
    private readonly depth = 3,
  ) {}

  /** Queues a batch (its checkpoint copied by the caller); writes the oldest ones past `depth`. */
  async push(ups: EntryTuple[], cp: C, book: () => void): Promise<void> {
    const files = ups.filter((u) => u[1] === FILE);
    const t0 = performance.now();
    const hashed =
      files.length === 0 ? Promise.resolve({ ms: 0, files: 0, dropped: [], retyped: false }) : this.hash(files, t0);
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
    const { ms, files, dropped, retyped } = await b.hashed;
    b.book();
    this.clock.add('identify', ms, files);
    if (dropped.length > 0) this.ctx.errors(dropped);
    this.write(dropped.length > 0 ? b.ups.filter((u) => !unstatted(u)) : b.ups, b.cp, dropped.length === 0 && !retyped);
  }

  /** Hashes a batch's files and puts their ids (and an unstatted file's attributes) in their tuples. */
  private async hash(files: EntryTuple[], t0: number): Promise<Hashed> {
    // By key below the root: no symlink on the way is followed, and no path is built here.
    const { results, stats } = await this.ctx.pool().hashKeys(
      this.root,
      files.map((u) => u[0]),
      files.some(unstatted),
      this.pin,
    );
    // Another folder at the location's path: the job ends there, once, rather than an error per file.
    if (changedIn(results.map((r) => ('error' in r ? r.error.code : '')))) throw locationChanged(this.root);
    const end = performance.now();
    const ms = Math.max(0, end - Math.max(t0, this.booked));
    this.booked = end;
    const dropped: WalkError[] = [];
    let retyped = false;
    results.forEach((r: HashResult, i) => {
      const u = files[i]!;
      if (stats && unstatted(u) && stats.flags[i] === REGULAR_FILE) {
        // Still a regular file (the common case): its attributes, as tupleOf would put them.
        u[2] = stats.size[i]!;
        u[3] = Math.floor(stats.mtimeMs[i]!);
        u[4] = Number(stats.ino[i]!);
      } else if (stats && unstatted(u)) {
        const w = entryAt(toPath(u[0]), stats, i);
        if ('code' in w) return void dropped.push(w); // its tuple keeps NaN: not written
        const t = tupleOf(u[0], w);
        retyped ||= t[1] !== FILE;
        for (let k = 1; k <= 5; k++) u[k] = t[k]!;
      }
      if ('error' in r || r.size !== u[2] || u[1] !== FILE) return;
      // The kind from the content; the walk's, from the name, when it says no more.
      if (r.kind !== 'other') u[5] = r.kind;
      u[6] = r.contentId;
    });
    return { ms, files: files.length, dropped, retyped };
  }
}
