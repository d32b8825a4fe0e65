// Signature checks of received batches off the main thread: a feed hands a batch to this thread
// as it arrives and stores it once the answer is back, so verifying batch k+1 overlaps storing
// and projecting batch k (the main thread is what limits a catch-up). One thread for the process,
// started on first use and ended after a few idle seconds. Its answers are hints bound to a key:
// the feed uses one only if the device's key is still that key, and verifies in place otherwise
// (or when the thread is not available), so nothing reaches the log unverified.
import { Worker } from 'node:worker_threads';
import type { SigJob, SigResult } from './sig-worker.js';

/** Smaller batches are verified in place: a round trip to the thread costs more than they do. */
export const PRE_VERIFY_MIN = 32;
const IDLE_MS = 5_000;

export interface PreVerified {
  pubkey: Uint8Array;
  hashes: Uint8Array[];
  ok: boolean[];
}

let worker: Worker | undefined;
let nextId = 1;
const waiting = new Map<number, (r: SigResult | undefined) => void>();
let idle: NodeJS.Timeout | undefined;

function fail(w: Worker): void {
  if (worker === w) worker = undefined;
  for (const done of waiting.values()) done(undefined);
  waiting.clear();
}

function start(): Worker {
  const w = new Worker(new URL('./sig-worker.js', import.meta.url));
  w.unref();
  w.on('message', (r: SigResult) => {
    const done = waiting.get(r.id);
    waiting.delete(r.id);
    done?.(r);
    if (waiting.size === 0) {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (waiting.size === 0 && worker === w) {
          worker = undefined;
          void w.terminate();
        }
      }, IDLE_MS);
      idle.unref();
    }
  });
  w.on('error', () => fail(w));
  w.on('exit', () => fail(w));
  return w;
}

/** Hashes and signature results of a batch under `pubkey`; undefined if the thread failed. */
export function preVerify(pubkey: Uint8Array, list: [Uint8Array, Uint8Array][]): Promise<PreVerified | undefined> {
  clearTimeout(idle);
  worker ??= start();
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
