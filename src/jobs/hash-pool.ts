// A worker_threads pool that identifies files in batches (one message per ~256 paths).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { SdError } from '../errors.js';
import type { Kind } from './kind.js';

export type HashPath = string | Buffer;

export type HashResult =
  | { path: HashPath; contentId: string; size: number; kind: Kind }
  | { path: HashPath; error: { code: string; message: string } };

/** Wire types shared with hash-worker.ts. */
export interface HashRequest { id: number; paths: Array<string | Uint8Array> }
export type WorkerResult =
  | { contentId: string; size: number; kind: Kind }
  | { error: { code: string; message: string } };
export interface HashReply { id: number; results: WorkerResult[] }

export interface HashPoolOptions { threads?: number; batchSize?: number }

export interface HashPool {
  readonly threads: number;
  /** Results come back in the order of `paths`; per-file failures are values, not rejections. */
  hash(paths: readonly HashPath[]): Promise<HashResult[]>;
  close(): Promise<void>;
}

export const DEFAULT_BATCH_SIZE = 256;

interface Batch {
  id: number;
  paths: readonly HashPath[];
  resolve: (r: WorkerResult[]) => void;
  reject: (e: Error) => void;
}

export function createHashPool(options: HashPoolOptions = {}): HashPool {
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const workerUrl = new URL('./hash-worker.js', import.meta.url);
  const queue: Batch[] = [];
  const idle: Worker[] = [];
  const busy = new Map<Worker, Batch>();
  let nextId = 1;
  let closed = false;

  function dispatch(): void {
    // Each idle worker takes the next queued batch; the pool stays saturated without over-queuing.
    while (idle.length > 0 && queue.length > 0) {
      const w = idle.pop()!;
      const b = queue.shift()!;
      busy.set(w, b);
      const req: HashRequest = { id: b.id, paths: b.paths as Array<string | Uint8Array> };
      w.postMessage(req);
    }
  }

  function spawn(): Worker {
    const w = new Worker(workerUrl);
    live.add(w);
    w.on('message', (reply: HashReply) => {
      const b = busy.get(w);
      busy.delete(w);
      idle.push(w);
      if (b && b.id === reply.id) b.resolve(reply.results);
      dispatch();
    });
    w.on('error', (err) => {
      const b = busy.get(w);
      busy.delete(w);
      live.delete(w);
      b?.reject(new SdError('E_HASH_WORKER', `a hashing worker failed: ${err.message}`));
      // Replace the dead worker so later batches still run.
      if (!closed) { idle.push(spawn()); dispatch(); }
    });
    return w;
  }

  const live = new Set<Worker>();
  for (let i = 0; i < threads; i++) idle.push(spawn());

  function runBatch(paths: readonly HashPath[]): Promise<WorkerResult[]> {
    return new Promise((resolve, reject) => {
      queue.push({ id: nextId++, paths, resolve, reject });
      dispatch();
    });
  }

  async function hash(paths: readonly HashPath[]): Promise<HashResult[]> {
    if (closed) throw new SdError('E_POOL_CLOSED', 'the hash pool was closed; create a new one');
    const parts: Promise<WorkerResult[]>[] = [];
    for (let i = 0; i < paths.length; i += batchSize) parts.push(runBatch(paths.slice(i, i + batchSize)));
    const done = await Promise.all(parts);
    const out: HashResult[] = new Array(paths.length);
    let k = 0;
    for (const results of done) for (const r of results) { out[k] = { path: paths[k]!, ...r }; k++; }
    return out;
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    const err = new SdError('E_POOL_CLOSED', 'the hash pool was closed before the batch finished');
    for (const b of queue.splice(0)) b.reject(err);
    for (const b of busy.values()) b.reject(err);
    busy.clear();
    // Terminate every live worker, including replacements of failed ones.
    await Promise.all([...live].map((w) => w.terminate()));
    live.clear();
  }

  return { threads, hash, close };
}
