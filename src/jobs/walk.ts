// Directory walker for one location root: batches of lstat'ed entries in a deterministic order.
//
// Order: depth-first pre-order, siblings sorted by name (JS string order of the names as
// encoded by names.ts). A directory comes before its contents, so a cursor (the relPath of the
// last entry handled) is enough to resume: walk(root, rules, {startAfter}) yields exactly the
// entries after it. Symlinks are recorded, never followed, so loops cannot trap the walk.
// Per-path failures are collected as WalkError values; only an unusable root throws, because an
// empty walk of an unplugged drive must not look like "everything was deleted".
// Note for the indexer: a directory listed in errors was not read, so its previously known
// children must not be treated as deleted.
import type { SpecialKind } from './kind.js';
import type { LstatColumns } from './hash-wire.js';
import { plan, type PlannedBatch, type WalkError, type WalkOptions } from './walk-plan.js';
import type { WalkRules } from './walk-rules.js';
import { assemble, assemblePlanned, belowOf, statPlanned } from './walk-stat.js';
import type { RootPin } from './beneath.js';
import type { RemoteWalkRequest, WalkPart } from './walk-remote.js';

export { countEntries, plan, type WalkError, type WalkOptions } from './walk-plan.js';
export { DEFAULT_SKIP_NAMES, NEVER_INDEXED, type WalkRules } from './walk-rules.js';
export { lstatColumns } from './walk-stat.js';

/** A batch's entries as paths from the folder the walk opens every other from (PlannedBatch.top). */
export interface StatBelow {
  top: string | Buffer;
  rels: Array<string | Buffer>;
  /** The folder `top` must still be (beneath.ts openRoot). */
  pin?: RootPin;
}

export interface WalkEntry {
  /** '/'-separated path below the root; escaped names per names.ts. */
  relPath: string;
  name: string;
  isDir: boolean;
  isSymlink: boolean;
  size: number;
  mtimeMs: number;
  inode: bigint;
  dev: bigint;
  /** A named pipe, socket or device: recorded with its kind, never opened. */
  special?: SpecialKind;
  /**
   * A regular file by its folder's listing whose attributes the walk did not read (size, mtime
   * and inode are unknown): they come from hashing it (a first index's walk on a thread, asked
   * with `unstattedFiles`).
   */
  unstatted?: true;
}

export interface WalkBatch {
  entries: WalkEntry[];
  errors: WalkError[];
  /** relPath of the last entry in this batch; store it to resume after this batch. */
  cursor: string | undefined;
}

/** Synchronous walk: listing and lstat on this thread. */
export function* walkSync(
  root: string | Buffer,
  rules: WalkRules = {},
  options: WalkOptions = {},
): Generator<WalkBatch> {
  let cursor = options.startAfter;
  for (const b of plan(root, rules, options)) {
    const out = assemblePlanned(b, statPlanned(b), cursor);
    cursor = out.cursor;
    yield out;
  }
}

/** How many planned batches may be at the stat workers at once. */
const STAT_AHEAD = 4;

/**
 * Async form: the event loop gets control back between batches. With `stat` (a pool's lstat),
 * the per-entry lstat calls run on worker threads, several batches ahead of the consumer, while
 * this thread lists folders and the consumer diffs: same batches, same order as walkSync.
 */
export async function* walk(
  root: string | Buffer,
  rules: WalkRules = {},
  options: WalkOptions & {
    /** With `below`: the entries' paths from `below.top`, lstat'ed below it (walk-stat.ts lstatBelow). */
    stat?: (paths: readonly (string | Buffer)[], below?: StatBelow) => Promise<LstatColumns>;
    /** Whether `stat`'s threads have started; until then batches are lstat'ed here. */
    statReady?: () => boolean;
    /** The whole walk on a thread of the pool (used once its threads have started). */
    remote?: (req: RemoteWalkRequest) => AsyncGenerator<WalkPart>;
    /** On the pool's thread, regular files come UNSTATTED (see WalkEntry.unstatted). */
    unstattedFiles?: boolean;
  } = {},
): AsyncGenerator<WalkBatch> {
  // A test's listing hook runs here, so such a walk stays on this thread.
  const remote = options.onDirListed ? undefined : options.remote;
  const onThread = async function* (startAfter: string | undefined): AsyncGenerator<WalkBatch> {
    let cursor = startAfter;
    const { batchSize, exclude, unstattedFiles, gitignoreAbove, below, pin } = options;
    for await (const part of remote!({
      root,
      rules,
      startAfter,
      batchSize,
      exclude,
      unstattedFiles,
      gitignoreAbove,
      below,
      pin,
    })) {
      const out = assemble(part.rels, part.errors, part.stats, cursor);
      cursor = out.cursor;
      yield out;
    }
  };
  if (remote && options.statReady?.() !== false) {
    yield* onThread(options.startAfter);
    return;
  }
  const stat = options.stat;
  if (!stat) {
    for (const batch of walkSync(root, rules, options)) {
      yield batch;
      await new Promise<void>((r) => setImmediate(r));
    }
    return;
  }
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const planner = plan(root, rules, options);
  const ahead: Array<{ batch: PlannedBatch; st: Promise<LstatColumns> }> = [];
  let planned = false;
  // Once the pool's threads have started, what is left of the walk moves to one of them.
  let handOff = false;
  const fill = (): void => {
    if (remote && !planned && options.statReady?.() === true) planned = handOff = true;
    while (!planned && ahead.length < STAT_AHEAD) {
      const r = planner.next();
      if (r.done) {
        planned = true;
        break;
      }
      const batch = r.value;
      const paths = batch.items.map((i) => i.fs);
      // A short batch (a small walk, or the end of one) is cheaper here than a worker round trip.
      // So is a batch planned before the threads started: a small rescan is over before they would be.
      const st =
        paths.length < batchSize || options.statReady?.() === false
          ? Promise.resolve(statPlanned(batch))
          : stat(paths, belowOf(batch));
      st.catch(() => undefined); // awaited below in order; an early exit must not leave it unhandled
      ahead.push({ batch, st });
    }
  };
  let cursor = options.startAfter;
  try {
    fill();
    // Bounded by the tree: each pass takes one planned batch.
    while (ahead.length > 0) {
      const { batch, st } = ahead.shift()!;
      const out = assemblePlanned(batch, await st, cursor);
      cursor = out.cursor;
      fill();
      yield out;
    }
  } finally {
    planner.return(undefined);
  }
  // Every batch planned here was yielded: the thread goes on after the last one's cursor.
  if (handOff) yield* onThread(cursor);
}

/** Collects a whole walk; for tests and small trees. */
export async function walkAll(
  root: string,
  rules: WalkRules = {},
  options: WalkOptions = {},
): Promise<{ entries: WalkEntry[]; errors: WalkError[] }> {
  const entries: WalkEntry[] = [];
  const errors: WalkError[] = [];
  for await (const b of walk(root, rules, options)) {
    entries.push(...b.entries);
    errors.push(...b.errors);
  }
  return { entries, errors };
}
