// The thread that signs this device's own events while the main thread appends and projects the
// next ones (see sign-pool.ts). It takes queued slots in order, claims each before reading it, and
// leaves after a few idle seconds (the pool starts it again when a large group comes).
import { workerData } from 'node:worker_threads';
import sodium from 'sodium-universal';
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

const IDLE_MS = 5_000;
const shared = workerData as SignShared;
const ctrl = new Int32Array(shared.ctrl);
const state = new Int32Array(shared.state);
const jobs = new Uint8Array(shared.jobs);
const sigs = new Uint8Array(shared.sigs);

let next = Atomics.load(ctrl, C_WRITTEN);
let idleSince = Date.now();
Atomics.store(ctrl, C_ALIVE, 1);
for (;;) {
  const written = Atomics.load(ctrl, C_WRITTEN);
  if (next === written) {
    if (Date.now() - idleSince > IDLE_MS) break;
    Atomics.store(ctrl, C_SLEEPING, 1);
    Atomics.wait(ctrl, C_WRITTEN, written, 1000);
    Atomics.store(ctrl, C_SLEEPING, 0);
    continue;
  }
  // Slots older than one ring were taken back by the main thread long ago.
  if (((written - next) | 0) > SIGN_RING) next = (written - SIGN_RING) | 0;
  const slot = (next >>> 0) % SIGN_RING;
  next = (next + 1) | 0;
  if (Atomics.compareExchange(state, slot, QUEUED, CLAIMED) !== QUEUED) continue;
  const at = slot * JOB_BYTES;
  // Straight into the shared slot (libsodium's detached signature, as keys.ts signRaw makes it).
  sodium.crypto_sign_detached(
    sigs.subarray(slot * SIG_BYTES, (slot + 1) * SIG_BYTES),
    jobs.subarray(at + 64, at + JOB_BYTES),
    jobs.subarray(at, at + 64),
  );
  if (Atomics.compareExchange(state, slot, CLAIMED, DONE) === ABANDONED) Atomics.store(state, slot, EMPTY);
  else if (Atomics.load(ctrl, C_WAITING) === slot + 1) Atomics.notify(state, slot);
  idleSince = Date.now();
}
Atomics.store(ctrl, C_ALIVE, 0);
