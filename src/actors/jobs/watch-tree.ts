// A recursive watch of a location: one watch per folder, not per file. Node 20's own recursive
// watch on Linux watches every file as well, and reads a folder again for each change in it: a
// pull of 10,000 files into a watched location spent 12 s of CPU and tens of MB there (bench/
// transfer.ts). Folders the rules skip are never watched; a folder that appears is watched with
// the folders it holds, one that goes is let go. The watches are those of one inotify instance
// (inotify.ts: a number per folder), or, where that is not available, one fs.watch per folder.
// Watching a large tree is a thread's work (watch-set.ts, watch-scan-worker.ts): on the main
// thread the 50,000 folders of a 1,000,000-file tree held the daemon 2 s, 10 s with a cold cache.
import { Worker } from 'node:worker_threads';
import { IN, openInotify, type InotifyEvent } from './inotify.js';
import { MAX_WATCHED_DIRS, skipperOf, WatchSet, type WatchRules } from './watch-set.js';
import { fsWatchTree } from './watch-tree-fs.js';
import type { ScanRequest, ScanResult } from './watch-scan-worker.js';

/** Folders a scan watches on the main thread before it hands the rest to a thread of its own. */
export const INLINE_FOLDERS = 256;

/**
 * Scans waiting for threads: one location's scan has them at a time (two threads), so a daemon
 * that starts with many large watched locations does not start two threads for each at once.
 */
const turns: (() => void)[] = [];
let turnTaken = false;

function takeTurn(start: () => void): void {
  if (turnTaken) turns.push(start);
  else {
    turnTaken = true;
    start();
  }
}

function passTurn(): void {
  const next = turns.shift();
  if (next) next();
  else turnTaken = false;
}

/**
 * A scan whose threads watched no new folder for this long (a location on a hung file system: a
 * thread blocked in the kernel cannot be ended) gives the next location's scan its turn. Its own
 * location stays not ready until its threads come back; the others are not held with it.
 */
export const TURN_STALL_MS = 30_000;

/** Events kept while threads scan (about 100 bytes each); past it they count as lost. */
const MAX_DEFERRED = 65_536;

export interface TreeWatch {
  close(): void;
  /** Folders watched now (relative paths). */
  readonly size: number;
  /** Settles once no folder is being watched on another thread: everything below is then heard. */
  ready(): Promise<void>;
}

/**
 * Watches `root` and the folders under it that `skip` lets through; `onChange` hears the relative
 * path of what changed ('' for the root itself), `onError` a watch that broke (the root's). Rules
 * given as data (not a function) let a large tree be watched on a thread of its own.
 */
export function watchTree(
  root: string,
  skip: WatchRules | ((rel: string) => boolean),
  onChange: (rel: string) => void,
  onError: (e: Error) => void,
  opts: {
    inotify?: boolean;
    inline?: number;
    threads?: 1 | 2;
    maxDeferred?: number;
    /** Tests: how long a scan's threads may watch nothing new before the next scan has its turn. */
    stallMs?: number;
    /** Tests: a FIFO the scanning threads open first (ScanRequest.stall). */
    stall?: string;
  } = {},
): TreeWatch {
  const rules = typeof skip === 'function' ? undefined : skip;
  const test = typeof skip === 'function' ? skip : skipperOf(skip);
  return (
    (opts.inotify !== false &&
      inotifyTree(
        root,
        test,
        rules,
        {
          inline: opts.inline ?? INLINE_FOLDERS,
          threads: opts.threads ?? 2,
          maxDeferred: opts.maxDeferred ?? MAX_DEFERRED,
          stallMs: opts.stallMs ?? TURN_STALL_MS,
          stall: opts.stall,
        },
        onChange,
        onError,
      )) ||
    fsWatchTree(root, test, onChange, onError)
  );
}

function inotifyTree(
  root: string,
  skip: (rel: string) => boolean,
  rules: WatchRules | undefined,
  o: { inline: number; threads: 1 | 2; maxDeferred: number; stallMs: number; stall?: string },
  onChange: (rel: string) => void,
  onError: (e: Error) => void,
): TreeWatch | undefined {
  const ino = openInotify((events) => heard(events));
  if (!ino) return undefined;
  const set = new WatchSet(root, skip, ino);
  let closed = false;
  /** A scan is on threads: the maps are theirs until they report, and events wait in `deferred`. */
  let scanning = false;
  /** Scanning threads not yet ended: the instance closes only once none can add a watch. */
  let live = 0;
  /** Events read while threads scan, heard in order once they are done (at most MAX_DEFERRED). */
  let deferred: InotifyEvent[] = [];
  /** More events came meanwhile than are kept: handled as the kernel's own overflow. */
  let lost = false;
  let waiting: (() => void)[] = [];
  /** The shared numbers of the scan on threads now: a close sets its stop flag (Int32 1). */
  let stopping: Int32Array | undefined;
  const rootFailed = (err: string): void => onError(new Error(`${err}: cannot watch ${root}`));

  const watchFrom = (queue: string[]): void => {
    if (closed) return; // closed from onChange while the events that waited were heard
    const { rest, rootError } = set.scan(queue, rules ? o.inline : Infinity);
    if (rootError) rootFailed(rootError);
    if (rest.length > 0) onThreads(rest);
  };

  // Events were lost: the whole location is looked at again, and its watch is made again from
  // nothing. The kernel hands back a folder's own number for one still watched; a folder removed
  // (or made again) while its IN_IGNORED was lost does not keep a dead number, and the watches of
  // folders no longer reached (moved out) are let go once the scan is done.
  const overflowed = (): void => {
    onChange('');
    const before = [...set.byWd.keys()];
    set.load([]);
    watchFrom(['']);
    const sweep = (): void => {
      for (const wd of before) if (!set.byWd.has(wd)) ino.remove(wd);
    };
    if (scanning) sweeps.push(sweep);
    else sweep();
  };
  let sweeps: (() => void)[] = [];

  // The rest of a scan on two threads (one when asked), each with every other folder of the
  // queue (each folder's subtree stays with one thread), counting their folders together.
  const onThreads = (queue: string[]): void => {
    scanning = true;
    takeTurn(() => {
      if (closed) return passTurn();
      const parts =
        o.threads === 2 && queue.length > 1 ? [0, 1].map((k) => queue.filter((_, i) => i % 2 === k)) : [queue];
      const entries = set.entries();
      const shared = new SharedArrayBuffer(8);
      const counts = (stopping = new Int32Array(shared));
      counts[0] = set.size;
      const results: ScanResult[] = [];
      const unscanned: string[][] = [];
      let pending = parts.length;
      // The turn goes on once: when the threads are done, or when they stall (TURN_STALL_MS).
      let passed = false;
      const pass = (): void => {
        if (passed) return;
        passed = true;
        clearInterval(stalled);
        passTurn();
      };
      let seen = -1;
      const stalled = setInterval(() => {
        const now = Atomics.load(counts, 0);
        if (now === seen) pass();
        seen = now;
      }, o.stallMs);
      stalled.unref();
      // Once per part: its thread's numbers came, or it ended (or never started) without them.
      const partDone = (): void => {
        if (--pending > 0) return;
        pass();
        if (!closed) scanned(entries, results, unscanned);
      };
      for (const part of parts) {
        const request: ScanRequest = { fd: ino.fd, root, rules: rules!, entries, queue: part, shared };
        if (o.stall) request.stall = o.stall;
        let w: Worker;
        try {
          if (process.env.SD_TEST_WATCH_THREAD === 'no-start') throw new Error('no thread (SD_TEST_WATCH_THREAD)');
          w = new Worker(new URL('./watch-scan-worker.js', import.meta.url), { workerData: request });
        } catch {
          unscanned.push(part); // no thread to be had (a process limit): watched here
          partDone();
          continue;
        }
        live++;
        let got = false;
        w.once('message', (m: ScanResult) => {
          got = true;
          results.push(m);
          partDone();
        });
        w.once('error', () => undefined); // no numbers: its part is watched here
        w.once('exit', () => {
          live--;
          if (closed && live === 0) ino.close(); // only now: no thread adds watches through its descriptor
          if (got) return;
          unscanned.push(part);
          partDone();
        });
      }
    });
  };

  /** The threads are done: their numbers are taken, then the events that waited are heard. */
  const scanned = (entries: [string, number][], results: ScanResult[], unscanned: string[][]): void => {
    // What was watched here stays (a thread that failed sent nothing back); watches a failed
    // thread added are found again (the kernel returns a folder's own number).
    set.load([...entries, ...results.flatMap((r) => r.entries)]);
    for (const part of unscanned) set.scan(part, Infinity);
    scanning = false;
    for (const sweep of sweeps.splice(0)) sweep();
    for (const r of results) if (r.rootError) rootFailed(r.rootError);
    const rest = deferred;
    deferred = [];
    heard(rest);
    if (lost && !scanning && !closed) {
      lost = false;
      overflowed();
    }
    if (scanning) return; // the events heard started another scan
    for (const done of waiting) done();
    waiting = [];
  };

  const heard = (events: InotifyEvent[]): void => {
    for (let i = 0; i < events.length; i++) {
      if (closed) return;
      if (scanning) {
        if (lost || deferred.length + events.length - i > o.maxDeferred) lost = true;
        else deferred.push(...events.slice(i));
        return;
      }
      const ev = events[i]!;
      if (ev.mask & IN.Q_OVERFLOW) {
        overflowed();
        continue;
      }
      const dir = set.byWd.get(ev.wd);
      if (dir === undefined) continue; // a watch let go, its last events still queued
      if (ev.mask & IN.IGNORED) {
        set.forget(ev.wd); // the folder went (its parent reported it) or its file system did
        continue;
      }
      if (ev.name === '') {
        if (dir === '') onChange(''); // the location's own folder: removed, moved or changed
        continue; // any other folder's change is reported by its parent
      }
      const rel = dir === '' ? ev.name : `${dir}/${ev.name}`;
      if (skip(rel)) continue;
      onChange(rel);
      if (ev.mask & (IN.DELETE | IN.MOVED_FROM)) set.drop(rel);
      if (ev.mask & (IN.CREATE | IN.MOVED_TO) && ev.mask & IN.ISDIR) watchFrom([rel]);
    }
  };
  watchFrom(['']);
  return {
    close() {
      if (closed) return;
      closed = true;
      set.load([]);
      deferred = [];
      // The threads are asked to stop, not ended: a thread ended while it loads koffi aborts the
      // whole process (a fatal error in the add-on's start-up), and one stops within a folder.
      if (stopping) Atomics.store(stopping, 1, 1);
      if (live === 0) ino.close();
      for (const done of waiting) done();
      waiting = [];
    },
    get size() {
      return set.size;
    },
    ready() {
      return scanning && !closed ? new Promise<void>((r) => waiting.push(r)) : Promise.resolve();
    },
  };
}
