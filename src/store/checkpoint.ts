// A library's write-ahead log is copied back into its database (a checkpoint) by a thread of its
// own. SQLite runs that copy on the writing connection, inside the commit that crosses
// wal_autocheckpoint: while a replication or an index streams tens of MiB of pages, that was a
// fifth of the main thread's time (measured: 105,000 rows stored in 610-679 ms with it, 507-513 ms
// with the copy on a thread, 462-536 ms with no copy at all).
//
// After each commit the log's header (the wal-index at the start of the -shm file, whose layout
// SQLite documents) says how many frames are not copied back yet; past THREAD_CHECKPOINT_BYTES the thread
// runs a passive checkpoint, which never waits for a lock and never blocks the writer. The
// writing connection keeps its own automatic checkpoint (database.ts) as the bound on the log's
// size: only a checkpoint on the writer lets SQLite start the log over, and by then the thread has
// copied all but the last frames. One thread for the process, started on first need and ended
// after IDLE_MS without work.
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CheckpointAnswer, CheckpointJob } from './checkpoint-worker.js';

/** Bytes of log not yet copied back after which the thread checkpoints. */
export const THREAD_CHECKPOINT_BYTES = 16 << 20;
const IDLE_MS = 10_000;
const WAL_INDEX_VERSION = 3_007_000;

const header = Buffer.alloc(100);
const u32 = (at: number): number => (endianness() === 'LE' ? header.readUInt32LE(at) : header.readUInt32BE(at));

/**
 * Bytes of the log of the database at `path` that are not copied back yet ((mxFrame - nBackfill) x
 * szPage of its wal-index, in the machine's byte order), or undefined when there is no readable index.
 */
export function bytesBehind(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(`${path}-shm`, 'r');
  } catch {
    return undefined;
  }
  try {
    if (readSync(fd, header, 0, header.length, 0) < header.length) return undefined;
    if (u32(0) !== WAL_INDEX_VERSION || header[12] !== 1) return undefined;
    const frames = u32(16);
    const copied = u32(96);
    const page = endianness() === 'LE' ? header.readUInt16LE(14) : header.readUInt16BE(14);
    return frames >= copied ? (frames - copied) * (page === 1 ? 65_536 : page) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

let worker: Worker | undefined;
/** Answers come in the order the jobs were sent (the thread runs one at a time). */
const waiting: ((a: CheckpointAnswer | undefined) => void)[] = [];
let idle: NodeJS.Timeout | undefined;
/** Threads told to end that have not exited yet: a library closing waits for them to let go of its file. */
const ending = new Set<Promise<unknown>>();
/** Tests: every checkpoint the thread ran, in order. */
const seen: CheckpointAnswer[] = [];

function failAll(w: Worker): void {
  if (worker !== w) return;
  worker = undefined;
  for (const done of waiting.splice(0)) done(undefined);
}

function start(): Worker {
  const w = new Worker(new URL('./checkpoint-worker.js', import.meta.url));
  w.unref();
  w.on('message', (a: CheckpointAnswer) => {
    if (a.op === 'checkpoint') seen.push(a);
    waiting.shift()?.(a);
    if (waiting.length === 0 && worker === w) {
      clearTimeout(idle);
      idle = setTimeout(() => end(w), IDLE_MS);
      idle.unref();
    }
  });
  w.on('error', () => failAll(w));
  w.on('exit', () => failAll(w));
  return w;
}

function end(w: Worker): void {
  if (worker !== w || waiting.length > 0) return;
  worker = undefined;
  const gone = w.terminate().catch(() => undefined);
  ending.add(gone);
  void gone.then(() => ending.delete(gone));
}

function send(job: CheckpointJob): Promise<CheckpointAnswer | undefined> {
  clearTimeout(idle);
  worker ??= start();
  const w = worker;
  return new Promise((resolve) => {
    waiting.push(resolve);
    w.postMessage(job);
  });
}

/** The checkpoints of one library's log. */
export class WalCheckpoints {
  private running = false;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly key?: string,
  ) {}

  /** After a commit: starts a checkpoint on the thread if the log holds THREAD_CHECKPOINT_BYTES not copied back. */
  committed(): void {
    if (this.running || this.closed) return;
    const behind = bytesBehind(this.path);
    if (behind === undefined || behind < THREAD_CHECKPOINT_BYTES) return;
    this.running = true;
    const job: CheckpointJob = { op: 'checkpoint', path: this.path };
    if (this.key) job.key = this.key;
    void send(job).then(() => {
      this.running = false;
    });
  }

  /** Before the writing connection closes: the thread lets go of the database. */
  async close(): Promise<void> {
    this.closed = true;
    if (worker) await send({ op: 'forget', path: this.path });
    await Promise.all([...ending]);
  }
}

/** Tests: resolves once the thread has answered every job sent (bounded: 10 s). */
export async function waitForCheckpointsForTests(): Promise<void> {
  for (let i = 0; i < 1000 && waiting.length > 0; i++) await new Promise((r) => setTimeout(r, 10));
}

/** Tests: the checkpoints the thread ran so far (and forgets them), and whether it is running. */
export function checkpointsForTests(): { ran: CheckpointAnswer[]; running: boolean } {
  return { ran: seen.splice(0), running: worker !== undefined };
}
