// Signatures of this device's own events off the main thread. An append inside a group of writes
// queues its hash here and stores a placeholder; the group's commit takes every signature back
// (from the thread, or signing in place whatever the thread has not started) and writes it into
// its row before COMMIT, so no event is ever committed unsigned. Ed25519 signing is deterministic:
// whichever thread signs, the bytes are the same. The queue is a ring in shared memory, so a
// commit can collect its signatures synchronously (no message round trip, no await).
import { Worker } from 'node:worker_threads';
import { signRaw } from './keys.js';
import {
  ABANDONED,
  C_ALIVE,
  C_SLEEPING,
  C_WAITING,
  C_WRITTEN,
  CLAIMED,
  DONE,
  EMPTY,
  JOB_BYTES,
  QUEUED,
  SIG_BYTES,
  SIGN_RING,
  type SignShared,
} from './sign-ring.js';

/** How long a commit waits for a signature the thread is computing before it signs in place. */
const CLAIM_WAIT_MS = 2;
const WAKE_EVERY = 8;

const shared: SignShared = {
  ctrl: new SharedArrayBuffer(16),
  state: new SharedArrayBuffer(SIGN_RING * 4),
  jobs: new SharedArrayBuffer(SIGN_RING * JOB_BYTES),
  sigs: new SharedArrayBuffer(SIGN_RING * SIG_BYTES),
};
const ctrl = new Int32Array(shared.ctrl);
const state = new Int32Array(shared.state);
const jobs = new Uint8Array(shared.jobs);
const sigs = new Uint8Array(shared.sigs);
let worker: Worker | undefined;
/** Signatures the thread made that a commit took (what tests and benches check the thread did). */
let fromThread = 0;

export function signedOnThread(): number {
  return fromThread;
}

/** Starts the signing thread if it is not running; it takes jobs once loaded (until then, none are queued). */
export function startSignThread(): void {
  if (worker || process.env.SD_SIGN_THREAD === 'off') return;
  const w = new Worker(new URL('./sign-worker.js', import.meta.url), { workerData: shared });
  w.unref();
  const gone = (): void => {
    if (worker === w) worker = undefined;
  };
  w.on('error', gone);
  w.on('exit', gone);
  worker = w;
}

/** Whether queueing a signature can pay off now: the thread is running and taking jobs. */
export function signThreadReady(): boolean {
  return worker !== undefined && Atomics.load(ctrl, C_ALIVE) === 1;
}

/** Queues the signature of `hash` under `secretKey`; the slot to take it from, or -1 (sign in place). */
export function queueSignature(secretKey: Uint8Array, hash: Uint8Array): number {
  if (!signThreadReady()) return -1;
  let n = Atomics.load(ctrl, C_WRITTEN);
  // A slot still held (its group not committed yet, or abandoned by a thread that died) is passed over.
  for (let tries = 0; Atomics.load(state, (n >>> 0) % SIGN_RING) !== EMPTY; tries++) {
    if (tries === 4) return -1;
    n = (n + 1) | 0;
  }
  const slot = (n >>> 0) % SIGN_RING;
  jobs.set(secretKey, slot * JOB_BYTES);
  jobs.set(hash, slot * JOB_BYTES + 64);
  Atomics.store(state, slot, QUEUED);
  Atomics.store(ctrl, C_WRITTEN, (n + 1) | 0);
  // A sleeping thread is woken once per few jobs (a wake-up costs more than a signature); whatever
  // it has not signed when the group commits is signed in place.
  if ((n & (WAKE_EVERY - 1)) === WAKE_EVERY - 1 && Atomics.load(ctrl, C_SLEEPING) === 1)
    Atomics.notify(ctrl, C_WRITTEN);
  return slot;
}

/** The signature of a queued job (the thread's, or made here), and the slot freed for reuse. */
export function takeSignature(slot: number, secretKey: Uint8Array, hash: Uint8Array): Uint8Array {
  const was = Atomics.compareExchange(state, slot, QUEUED, EMPTY);
  if (was === QUEUED) return signRaw(secretKey, hash);
  if (was === CLAIMED) {
    Atomics.store(ctrl, C_WAITING, slot + 1);
    Atomics.wait(state, slot, CLAIMED, CLAIM_WAIT_MS);
    Atomics.store(ctrl, C_WAITING, 0);
  }
  // Still being signed (a descheduled thread): it empties the slot when done; sign here.
  if (Atomics.compareExchange(state, slot, CLAIMED, ABANDONED) !== DONE) return signRaw(secretKey, hash);
  const sig = sigs.slice(slot * SIG_BYTES, (slot + 1) * SIG_BYTES);
  Atomics.store(state, slot, EMPTY);
  fromThread++;
  return sig;
}

/** Frees the slot of a job whose signature is no longer wanted (its transaction rolled back). */
export function dropSignature(slot: number): void {
  if (Atomics.compareExchange(state, slot, QUEUED, EMPTY) === QUEUED) return;
  if (Atomics.compareExchange(state, slot, DONE, EMPTY) === DONE) return;
  Atomics.compareExchange(state, slot, CLAIMED, ABANDONED);
}
