// What the hash pool and its threads say to each other (hash-pool.ts, hash-worker.ts): requests,
// and replies as columns, which cost the two threads less to copy across than an object per file.
import type { RemoteWalkRequest, WalkPart } from './walk-remote.js';
import type { RootPin } from './beneath.js';

export type HashRequest =
  | { id: number; op: 'hash' | 'lstat'; paths: Array<string | Uint8Array>; stat?: boolean }
  /** lstat of a walk's batch below `top` (walk-stat.ts lstatBelow); `paths` where that cannot be done. */
  | {
      id: number;
      op: 'lstatBelow';
      paths: Array<string | Uint8Array>;
      top: string | Uint8Array;
      rels: Array<string | Uint8Array>;
      /** The folder `top` must still be (beneath.ts openRoot). */
      pin?: RootPin;
    }
  /**
   * Files of a location by their entry keys (joined by NUL, which no name holds), each opened
   * below the root's descriptor without following a symlink on the way (beneath.ts).
   */
  | { id: number; op: 'hashKeys'; root: string; keys: string; stat?: boolean; pin?: RootPin }
  | { id: number; op: 'walk'; walk: RemoteWalkRequest }
  /** A walk's consumer took a part (one more may come), or stopped listening. */
  | { id: number; op: 'more' | 'stop' }
  /** The pool closes: the thread ends at this message. */
  | { id: number; op: 'end' };
/**
 * A hash batch's results as columns, in the order of its paths: content ids as one string of
 * 32-character ids, sizes, kinds as indexes into KINDS, and the failures (their id is blank).
 * Columns cost the two threads less than an object per file to copy across (one string, two typed
 * arrays moved, not copied).
 */
export interface HashedColumns {
  ids: string;
  sizes: Float64Array;
  kinds: Uint8Array;
  errors: Array<[index: number, code: string, message: string]>;
}
/**
 * lstat of a batch as columns. flags[i]: 0 = failed (see errors), 1 = vanished (ENOENT), 3 = a
 * regular file by its listing whose attributes were not read (UNSTATTED, walk-stat.ts), otherwise
 * 2, plus 4 for a directory, 8 for a symlink, and for a special file 16 (a named pipe), 32 (a
 * socket), 64 (a block device) or 128 (a character device).
 */
export interface LstatColumns {
  flags: Uint8Array;
  size: Float64Array;
  mtimeMs: Float64Array;
  ino: BigUint64Array;
  dev: BigUint64Array;
  errors: Array<[index: number, code: string, message: string]>;
}
export interface HashReply {
  id: number;
  hashed?: HashedColumns;
  stats?: LstatColumns;
  /** One batch of a walk; the walk's thread stays taken until the reply without it. */
  part?: WalkPart;
  /** A walk that failed (the planner's SdError code and sentence). */
  error?: { code: string; message: string };
}
