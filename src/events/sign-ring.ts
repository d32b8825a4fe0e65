// The shared-memory layout of the signing ring (sign-pool.ts on the main thread, sign-worker.ts on its own).
/** Slots in the ring: more own appends than this in one group are signed in place. */
export const SIGN_RING = 4096;
/** A slot's state (Int32 in shared memory). */
export const EMPTY = 0;
export const QUEUED = 1;
export const CLAIMED = 2;
export const DONE = 3;
/** The main thread gave up waiting on a claimed slot: the thread empties it when it is done. */
export const ABANDONED = 4;
/** ctrl[]: jobs written (monotonic), the thread is asleep, the thread takes jobs, slot+1 the main thread waits on. */
export const C_WRITTEN = 0;
export const C_SLEEPING = 1;
export const C_ALIVE = 2;
export const C_WAITING = 3;
export const JOB_BYTES = 96; // 64-byte secret key, 32-byte hash
export const SIG_BYTES = 64;

export interface SignShared {
  ctrl: SharedArrayBuffer;
  state: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
  sigs: SharedArrayBuffer;
}
