// A worker_threads pool that identifies files in batches (one message per ~256 paths), and
// lstat()s the walker's batches so a walk's syscalls run beside the diff on the main thread.
import { Worker } from 'node:worker_threads';
import type { RootPin } from './beneath.js';
import { availableParallelism } from 'node:os';
import { SdError, isErrorCode } from '../errors.js';
import type { RemoteWalkRequest, WalkPart } from './walk-remote.js';
import type { HashReply, HashRequest, LstatColumns } from './hash-wire.js';
import type { StatBelow } from './walk.js';
import { resultsOf, statsOf } from './hash-results.js';
import type { HashPath, HashPool, HashPoolOptions, HashResult } from './hash-pool-api.js';

export type { HashPath, HashPool, HashPoolOptions, HashResult } from './hash-pool-api.js';

export const DEFAULT_BATCH_SIZE = 256;
const TERMINATE_MS = 1000;
/** How long a closing pool waits for its threads to end at its message before it terminates them. */
const END_MS = 250;
/**
 * How long a closing pool waits for a thread to finish loading before it terminates it anyway:
 * one terminated while koffi registers itself aborts the whole process (`FATAL ERROR:
 * Error::ThrowAsJavaScriptException napi_throw`; 4 of 300 terminations at random moments of a
 * thread's load did, none of a loaded thread's). A thread says it is loaded once koffi is in.
 */
const LOAD_MS = 10_000;
let stuck = false;

/** True once a pool could not end a thread: the process can then only end by SIGKILL (Node joins threads at exit). */
export function threadsStuck(): boolean {
  return stuck;
}

/** Whether p settles within ms (its outcome is ignored). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const on = p.then(
    () => true,
    () => true,
  );
  const ok = await Promise.race([on, late]);
  clearTimeout(timer);
  return ok;
}

interface Batch {
  id: number;
  req: HashRequest;
  resolve: (r: HashReply) => void;
  reject: (e: Error) => void;
  /** A walk's parts, as they come; and the thread it runs on, once dispatched. */
  onPart?: (p: WalkPart) => void;
  worker?: Worker;
}

export function createHashPool(options: HashPoolOptions = {}): HashPool {
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const endMs = options.endMs ?? END_MS;
  const workerUrl = new URL('./hash-worker.js', import.meta.url);
  const queue: Batch[] = [];
  const idle: Worker[] = [];
  /** A thread's hash or lstat batch: one at a time per thread. */
  const busy = new Map<Worker, Batch>();
  /** Every batch sent to a thread and not yet answered, walks included, by id. */
  const sent = new Map<number, Batch>();
  let nextId = 1;
  let closed = false;
  let started = 0;

  function dispatch(): void {
    // Each idle worker takes the next queued batch; the pool stays saturated without over-queuing.
    while (idle.length > 0 && queue.length > 0) {
      const w = idle.pop()!;
      const b = queue.shift()!;
      sent.set(b.id, b);
      b.worker = w;
      w.postMessage(b.req);
      // A walk does not take its thread: it mostly waits for its consumer, and meanwhile the
      // thread hashes (a first index's walk held one of two threads for the whole job, and
      // every file was hashed on the other).
      if (b.req.op === 'walk')
        idle.unshift(w); // taken last by the next batch
      else busy.set(w, b);
    }
  }

  function spawn(): Worker {
    const w = new Worker(workerUrl);
    live.add(w);
    let isLoaded: () => void = () => undefined;
    loaded.set(w, new Promise<void>((r) => (isLoaded = r)));
    // An exit or error before the thread loaded: close() has nothing to wait for.
    w.once('exit', () => {
      isLoaded();
      loaded.delete(w);
    });
    w.on('message', (reply: HashReply | { ready: true }) => {
      if ('ready' in reply) {
        started++;
        isLoaded();
        return;
      }
      const b = sent.get(reply.id);
      if (!b || b.worker !== w) return;
      if (reply.part) {
        b.onPart?.(reply.part);
        return;
      }
      sent.delete(reply.id);
      if (b.req.op !== 'walk') {
        busy.delete(w);
        idle.push(w);
      }
      b.resolve(reply);
      dispatch();
    });
    w.on('error', (err) => {
      isLoaded();
      busy.delete(w);
      live.delete(w);
      const i = idle.indexOf(w);
      if (i >= 0) idle.splice(i, 1);
      // Its batch and any walk it ran fail; the others go on.
      for (const b of [...sent.values()])
        if (b.worker === w) {
          sent.delete(b.id);
          b.reject(new SdError('E_HASH_WORKER', `a hashing worker failed: ${err.message}`));
        }
      // Replace the dead worker so later batches still run.
      if (!closed) {
        idle.push(spawn());
        dispatch();
      }
    });
    return w;
  }

  const live = new Set<Worker>();
  /** Per thread: settles once it has loaded its native add-on, or exited (see LOAD_MS). */
  const loaded = new Map<Worker, Promise<void>>();
  for (let i = 0; i < threads; i++) idle.push(spawn());

  function runBatch(op: 'hash' | 'lstat', paths: readonly HashPath[], stat = false): Promise<HashReply> {
    return send((id) => ({ id, op, paths: paths as Array<string | Uint8Array>, ...(stat ? { stat } : {}) }));
  }

  function send(make: (id: number) => HashRequest): Promise<HashReply> {
    if (closed) return Promise.reject(new SdError('E_POOL_CLOSED', 'the hash pool was closed; create a new one'));
    return new Promise((resolve, reject) => {
      const id = nextId++;
      queue.push({ id, req: make(id), resolve, reject });
      dispatch();
    });
  }

  async function hashBatches(paths: readonly HashPath[], stat: boolean): Promise<HashReply[]> {
    if (closed) throw new SdError('E_POOL_CLOSED', 'the hash pool was closed; create a new one');
    const parts: Promise<HashReply>[] = [];
    for (let i = 0; i < paths.length; i += batchSize) parts.push(runBatch('hash', paths.slice(i, i + batchSize), stat));
    return Promise.all(parts);
  }

  async function hash(paths: readonly HashPath[]): Promise<HashResult[]> {
    return resultsOf(paths, await hashBatches(paths, false));
  }

  async function hashStat(paths: readonly HashPath[]): Promise<{ results: HashResult[]; stats: LstatColumns }> {
    const done = await hashBatches(paths, true);
    return { results: resultsOf(paths, done), stats: statsOf(paths.length, done) };
  }

  async function hashKeys(
    root: string,
    keys: readonly string[],
    stat: boolean,
    pin?: RootPin,
  ): Promise<{ results: HashResult[]; stats?: LstatColumns }> {
    if (closed) throw new SdError('E_POOL_CLOSED', 'the hash pool was closed; create a new one');
    // NUL joins the keys of a batch: a key holding one (or an empty one) would shift every result after it.
    const bad = keys.find((k) => k === '' || k.includes('\0'));
    if (bad !== undefined) throw new SdError('E_BAD_PATH', `${JSON.stringify(bad)} is not an entry key`);
    const parts: Promise<HashReply>[] = [];
    // One string per batch: the other thread copies one string, not one per file.
    for (let i = 0; i < keys.length; i += batchSize) {
      const joined = keys.slice(i, i + batchSize).join('\0');
      parts.push(
        send((id) => ({ id, op: 'hashKeys', root, keys: joined, ...(stat ? { stat } : {}), ...(pin ? { pin } : {}) })),
      );
    }
    const done = await Promise.all(parts);
    return { results: resultsOf(keys, done), stats: stat ? statsOf(keys.length, done) : undefined };
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    const err = new SdError('E_POOL_CLOSED', 'the hash pool was closed before the batch finished');
    for (const b of queue.splice(0)) b.reject(err);
    for (const b of sent.values()) b.reject(err);
    sent.clear();
    busy.clear();
    // Every live worker (replacements of failed ones included) is asked to end at its next
    // message. One that has not ended within END_MS (a long batch, a stalled read) is terminated,
    // but only once it has loaded (LOAD_MS): a thread still loading ends at the message once it
    // has. A thread blocked in a system call (a read the kernel never finishes) cannot be
    // terminated: it is left behind.
    const workers = [...live];
    const exited = workers.map((w) => new Promise<void>((r) => (w.threadId < 0 ? r() : w.once('exit', () => r()))));
    for (const w of workers) w.postMessage({ id: -1, op: 'end' } satisfies HashRequest);
    if (!(await settlesWithin(Promise.all(exited), endMs))) {
      // Each thread's terminate is bounded on its own, after its own wait for its load: one
      // blocked in the kernel has loaded, and is found stuck TERMINATE_MS later.
      const ended = await Promise.all(
        workers.map(async (w, i) => {
          await settlesWithin(Promise.race([loaded.get(w), exited[i]]), LOAD_MS);
          return w.threadId < 0 || settlesWithin(w.terminate(), TERMINATE_MS);
        }),
      );
      if (ended.includes(false)) stuck = true;
    }
    live.clear();
    loaded.clear();
  }

  async function lstat(paths: readonly HashPath[], below?: StatBelow): Promise<LstatColumns> {
    const reply = below
      ? await send((id) => ({ id, op: 'lstatBelow', paths: paths as Array<string | Uint8Array>, ...below }))
      : await runBatch('lstat', paths);
    if (!reply.stats) throw new SdError('E_HASH_WORKER', 'a worker answered an lstat batch without results');
    return reply.stats;
  }

  async function* walk(req: RemoteWalkRequest): AsyncGenerator<WalkPart> {
    if (closed) throw new SdError('E_POOL_CLOSED', 'the hash pool was closed; create a new one');
    const parts: WalkPart[] = [];
    let wake: (() => void) | undefined;
    let end: { error?: Error } | undefined;
    const id = nextId++;
    const b: Batch = {
      id,
      req: { id, op: 'walk', walk: req },
      resolve: (r) => {
        // The planner's own refusals keep their code; anything else is the thread's failure.
        const code = r.error && isErrorCode(r.error.code) ? r.error.code : 'E_HASH_WORKER';
        end = r.error ? { error: new SdError(code, r.error.message) } : {};
        wake?.();
      },
      reject: (e) => {
        end = { error: e };
        wake?.();
      },
      onPart: (p) => {
        parts.push(p);
        wake?.();
      },
    };
    queue.push(b);
    dispatch();
    try {
      // Bounded by the walk: each pass yields a part or ends; the thread sends at most WALK_AHEAD unasked.
      for (;;) {
        const p = parts.shift();
        if (p) {
          b.worker?.postMessage({ id, op: 'more' } satisfies HashRequest);
          yield p;
          continue;
        }
        if (end) {
          if (end.error) throw end.error;
          return;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      // An early stop (a cancelled job) frees the thread; a walk not yet dispatched is dropped.
      if (!end) {
        const q = queue.indexOf(b);
        if (q >= 0) queue.splice(q, 1);
        else b.worker?.postMessage({ id, op: 'stop' } satisfies HashRequest);
      }
    }
  }

  return { threads, ready: () => started > 0, hash, hashStat, hashKeys, lstat, walk, close };
}
