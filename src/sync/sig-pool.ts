// Signature checks of received batches off the main thread: a feed hands a batch to this thread
// as it arrives and stores it once the answer is back, so verifying batch k+1 overlaps storing
// and projecting batch k (the main thread is what limits a catch-up). One thread for the process,
// started on first use and ended after a few idle seconds. Its answers are hints bound to a key:
// the feed uses one only if the device's key is still that key, and verifies in place otherwise
// (or when the thread is not available), so nothing reaches the log unverified.
import { Worker } from 'node:worker_threads';
import type { SigJob, SigResult } from './sig-worker.js';

/**
 * Batches of fewer events are verified in place: a round trip to the thread costs more than their
 * signatures do. A 2 MiB batch of index events (1,000 entries each) holds about 33 events: its time
 * goes to the projection, not to its 33 signatures, so it stays on this thread too.
 */
export const PRE_VERIFY_MIN = 64;
const IDLE_MS = 5_000;

export interface PreVerified {
  pubkey: Uint8Array;
  hashes: Uint8Array[];
  ok: boolean[];
}

let worker: Worker | undefined;
/** The thread has loaded its hashing and signing code: until then batches are verified in place. */
let ready = false;
let nextId = 1;
const waiting = new Map<number, (r: SigResult | undefined) => void>();
let idle: NodeJS.Timeout | undefined;

function fail(w: Worker): void {
  if (worker === w) {
    worker = undefined;
    ready = false;
  }
  for (const done of waiting.values()) done(undefined);
  waiting.clear();
}

/** Ends the thread after IDLE_MS without work (armed again by every answer, and by a warm-up of a loaded thread). */
function armIdle(w: Worker): void {
  clearTimeout(idle);
  idle = setTimeout(() => {
    if (waiting.size === 0 && worker === w) {
      worker = undefined;
      ready = false;
      void w.terminate();
    }
  }, IDLE_MS);
  idle.unref();
}

function start(): Worker {
  const w = new Worker(new URL('./sig-worker.js', import.meta.url));
  w.unref();
  w.on('message', (r: SigResult | 'ready') => {
    if (r === 'ready') ready = worker === w;
    else {
      const done = waiting.get(r.id);
      waiting.delete(r.id);
      done?.(r);
    }
    if (waiting.size === 0) armIdle(w);
  });
  w.on('error', () => fail(w));
  w.on('exit', () => fail(w));
  return w;
}

/** Starts the thread (if it is not running) and resolves once it takes batches; false if it cannot. */
export async function sigThreadReady(timeoutMs = 10_000): Promise<boolean> {
  clearTimeout(idle);
  worker ??= start();
  // Bounded by timeoutMs.
  for (const end = Date.now() + timeoutMs; !ready && worker && Date.now() < end;)
    await new Promise((r) => setTimeout(r, 10));
  if (ready && worker && waiting.size === 0) armIdle(worker);
  return ready;
}

/**
 * Starts the thread ahead of the batches (a peer's heads say a catch-up of many events is coming):
 * it takes ~0.3 s to load, and the batches that arrive before it is ready are verified in place.
 */
export function warmSigThread(): void {
  // A new thread arms its idle timer when it is loaded; a loaded, idle one starts its idle time
  // again (cleared without re-arming, a peer's heads claiming a long lag kept it alive for good).
  if (!worker) worker = start();
  else if (ready && waiting.size === 0) armIdle(worker);
}

/** Whether the thread is running or loading (tests). */
export function sigThreadStarted(): boolean {
  return worker !== undefined;
}

/** Ends the thread now (tests: the next use starts it again). */
export async function stopSigThread(): Promise<void> {
  const w = worker;
  if (!w) return;
  worker = undefined;
  ready = false;
  clearTimeout(idle);
  await w.terminate();
}

/**
 * Hashes and signature results of a batch under `pubkey` (undefined if the thread failed), or
 * undefined at once while the thread is starting (it starts on the first call): the caller then
 * verifies in place, so the first batch never waits for a thread to load.
 */
export function preVerify(
  pubkey: Uint8Array,
  list: [Uint8Array, Uint8Array][],
): Promise<PreVerified | undefined> | undefined {
  clearTimeout(idle);
  worker ??= start();
  if (!ready) return undefined;
  const id = nextId++;
  const job: SigJob = { id, pubkey, list };
  return new Promise((resolve) => {
    waiting.set(id, (r) => resolve(r && r.hashes.length === list.length ? { pubkey, ...r } : undefined));
    try {
      worker!.postMessage(job);
    } catch {
      waiting.delete(id);
      resolve(undefined);
    }
  });
}
