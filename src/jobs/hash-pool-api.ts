// What the hashing threads offer the rest of the daemon (hash-pool.ts runs them): content ids
// and attributes of files in batches, lstat batches and whole walks on a thread.
import type { RootPin } from './beneath.js';
import type { Kind } from './kind.js';
import type { RemoteWalkRequest, WalkPart } from './walk-remote.js';
import type { LstatColumns } from './hash-wire.js';
import type { StatBelow } from './walk.js';

export type HashPath = string | Buffer;

export type HashResult =
  | { path: HashPath; contentId: string; size: number; kind: Kind }
  | { path: HashPath; error: { code: string; message: string } };

export interface HashPoolOptions {
  threads?: number;
  batchSize?: number;
  /** How long close() waits for its threads to end at its message before it terminates them (tests). */
  endMs?: number;
}

export interface HashPool {
  readonly threads: number;
  /** Whether a thread has started and can take work at once (a new pool needs 150-200 ms). */
  ready(): boolean;
  /** Results come back in the order of `paths`; per-file failures are values, not rejections. */
  hash(paths: readonly HashPath[]): Promise<HashResult[]>;
  /**
   * hash(), and each file's attributes: as fstat read them through the descriptor it was hashed
   * through, or as lstat reads its path when it could not be hashed (see LstatColumns).
   */
  hashStat(paths: readonly HashPath[]): Promise<{ results: HashResult[]; stats: LstatColumns }>;
  /**
   * hash() of a location's files by entry key, each opened below `root` without following a
   * symlink anywhere on the way (beneath.ts; by path where openat2 cannot be called). With
   * `stat`, each file's attributes as hashStat() gives them, its lstat made the same way.
   * A result's `path` is its key. With `pin`, the root must still be that folder (beneath.ts
   * openRoot): every file of a batch is E_PATH_CHANGED otherwise.
   */
  hashKeys(
    root: string,
    keys: readonly string[],
    stat: boolean,
    pin?: RootPin,
  ): Promise<{ results: HashResult[]; stats?: LstatColumns }>;
  /**
   * lstat of every path in one worker message; results in the order of `paths`. With `below`,
   * each is lstat'ed by its path from `below.top` without following a symlink (walk-stat.ts lstatBelow).
   */
  lstat(paths: readonly HashPath[], below?: StatBelow): Promise<LstatColumns>;
  /** A whole walk on one thread (listing, rules and lstat), in walk order. */
  walk(req: RemoteWalkRequest): AsyncGenerator<WalkPart>;
  close(): Promise<void>;
}
