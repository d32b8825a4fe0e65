// The thread that checks the signatures of a received batch while the main thread stores and
// projects the batch before it (see sig-pool.ts). It computes each event's hash and whether the
// signature verifies under the key it is given; the main thread decides what that means.
import { parentPort } from 'node:worker_threads';
import { blake3, initHashing } from '../events/hash.js';
import { verifyRaw } from '../events/keys.js';

export interface SigJob {
  id: number;
  pubkey: Uint8Array;
  list: [Uint8Array, Uint8Array][];
}

export interface SigResult {
  id: number;
  hashes: Uint8Array[];
  ok: boolean[];
}

await initHashing();
parentPort!.postMessage('ready');
parentPort!.on('message', (job: SigJob) => {
  const hashes: Uint8Array[] = [];
  const ok: boolean[] = [];
  for (const [bytes, sig] of job.list) {
    const hash = blake3(bytes);
    hashes.push(hash);
    ok.push(verifyRaw(job.pubkey, hash, sig));
  }
  parentPort!.postMessage({ id: job.id, hashes, ok } satisfies SigResult);
});
