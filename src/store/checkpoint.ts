// A library's write-ahead log is copied back into its database (a checkpoint) by a thread of its
// own. SQLite runs that copy on the writing connection, inside the commit that crosses
// wal_autocheckpoint: while a replication or an index streams tens of MiB of pages, that was a
// fifth of the main thread's time (measured: 105,000 rows stored in 610-679 ms with it, 507-513 ms
// with the copy on a thread, 462-536 ms with no copy at all).
//
// After each commit the log's header (the wal-index at the start of the -shm file, whose layout
// SQLite documents) says how many frames are not copied back yet; past THREAD_CHECKPOINT_BYTES the thread
// runs a passive checkpoint, which never waits for a lock and never blocks the writer. SQLite
// starts the log over at the writer's next transaction once every frame is copied back and no
// reader needs the old ones. The writing connection keeps its own automatic checkpoint
// (database.ts) as the bound on the log's size while the writer outruns the thread (the log is
// then never wholly copied back between two transactions), and by then the thread has copied all
// but the last frames. One thread for the process, started on first need and ended after IDLE_MS
// without work.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CheckpointAnswer, CheckpointJob } from './checkpoint-worker.js';

/** Bytes of log not yet copied back after which the thread checkpoints. */
export const THREAD_CHECKPOINT_BYTES = 16 << 20;
const IDLE_MS = 10_000;
/** After a checkpoint that left frames behind or failed, the next waits this long. */
const RETRY_MS = 1_000;
const WAL_INDEX_VERSION = 3_007_000;

const header = Buffer.alloc(100);
const u32 = (at: number): number => (endianness() === 'LE' ? header.readUInt32LE(at) : header.readUInt32BE(at));

/**
 * Descriptors of the -shm files read, one per path, kept open. POSIX record locks belong to the
 * process, and closing any descriptor of a file drops all of them: closing one after each read
 * dropped SQLite's own locks on the wal-index (its "DMS" lock among them), and the next process to
 * open the library (`sd doctor`, a `sqlite3` shell) then took itself for the first user and reset
 * the live index under the writer. A descriptor is closed only once its path names another file or
 * none (SQLite deletes the -shm when its last connection closes): no lock is left on that one.
 */
const headers = new Map<string, { fd: number; ino: number }>();

function headerFd(shm: string): number | undefined {
  const ino = inodeOf(shm);
  const held = headers.get(shm);
  if (held && held.ino === ino) return held.fd;
  forgetHeader(shm, ino);
  if (ino === undefined) return undefined;
  try {
    const fd = openSync(shm, 'r');
    headers.set(shm, { fd, ino: fstatSync(fd).ino });
    return fd;
  } catch {
    return undefined;
  }
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Closes the descriptor of a -shm path whose file is gone or replaced (see `headers`); `now` is the path's inode. */
function forgetHeader(shm: string, now = inodeOf(shm)): void {
  const held = headers.get(shm);
  if (!held || now === held.ino) return; // still the live file: closing would drop this process's locks
  headers.delete(shm);
  closeSync(held.fd);
}

/** After a library closed: descriptors of -shm files deleted since are closed. */
export function releaseHeaders(): void {
  for (const shm of [...headers.keys()]) forgetHeader(shm);
}

/**
 * Bytes of the log of the database at `path` that are not copied back yet ((mxFrame - nBackfill) x
 * szPage of its wal-index, in the machine's byte order), or undefined when there is no readable index.
 */
export function bytesBehind(path: string): number | undefined {
  const fd = headerFd(`${path}-shm`);
  if (fd === undefined) return undefined;
  try {
    if (readSync(fd, header, 0, header.length, 0) < header.length) return undefined;
    if (u32(0) !== WAL_INDEX_VERSION || header[12] !== 1) return undefined;
    const frames = u32(16);
    const copied = u32(96);
    const page = endianness() === 'LE' ? header.readUInt16LE(14) : header.readUInt16BE(14);
    return frames >= copied ? (frames - copied) * (page === 1 ? 65_536 : page) : undefined;
  } catch {
    return undefined;
  }
}

let worker: Worker | undefined;
/** Answers come in the order the jobs were sent (the thread runs one at a time). */
const waiting: ((a: CheckpointAnswer | undefined) => void)[] = [];
let idle: NodeJS.Timeout | undefined;
/** Threads told to end that have not exited yet: a library closing waits for them to let go of its file. */
const ending = new Set<Promise<unknown>>();
/** Tests: every checkpoint the thread ran, in order, once checkpointsForTests() was called. */
const seen: CheckpointAnswer[] = [];
let recording = false;

function failAll(w: Worker): void {
  if (worker !== w) return;
  worker = undefined;
  for (const done of waiting.splice(0)) done(undefined);
}

function start(): Worker {
  const w = new Worker(new URL('./checkpoint-worker.js', import.meta.url));
  w.unref();
  w.on('message', (a: CheckpointAnswer) => {
    if (a.op === 'checkpoint' && recording) seen.push(a);
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
  /** After a checkpoint that could not copy every frame (a reader holds them) or failed: no new one before. */
  private quietUntil = 0;

  constructor(
    private readonly path: string,
    private readonly key?: string,
  ) {}

  /** After a commit: starts a checkpoint on the thread if the log holds THREAD_CHECKPOINT_BYTES not copied back. */
  committed(): void {
    if (this.running || this.closed || performance.now() < this.quietUntil) return;
    const behind = bytesBehind(this.path);
    if (behind === undefined || behind < THREAD_CHECKPOINT_BYTES) return;
    this.running = true;
    const job: CheckpointJob = { op: 'checkpoint', path: this.path };
    if (this.key) job.key = this.key;
    void send(job).then((a) => {
      this.running = false;
      // A long reader (a replay check, a snapshot) pins the frames, or the thread failed: asking
      // again at every commit would only repeat the same answer.
      const stuck = !a || a.error !== undefined || (a.checkpointed ?? 0) < (a.log ?? 0);
      if (stuck) this.quietUntil = performance.now() + RETRY_MS;
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
  recording = true;
  return { ran: seen.splice(0), running: worker !== undefined };
}
