// The thread that watches a large tree's folders (watch-tree.ts): it adds each folder's watch to
// the location's inotify instance, by its descriptor, then lists the folder for the next ones,
// and hands every folder's watch number back once it is done. The main thread reads no events
// meanwhile, so none is heard before its folder's number is known.
import { openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { inotifyOps } from './inotify.js';
import { skipperOf, WatchSet, type WatchRules } from './watch-set.js';

export interface ScanRequest {
  fd: number;
  root: string;
  rules: WatchRules;
  /** What the main thread watched so far, and the folders left to watch. */
  entries: [string, number][];
  queue: string[];
  /**
   * Folders watched by all threads of the scan (Int32 0: together they stop at MAX_WATCHED_DIRS),
   * and the watch closed (Int32 1: the thread stops at its next folder and ends).
   */
  shared: SharedArrayBuffer;
  /** Tests: a FIFO nobody writes to, opened before the scan: the thread blocks in the kernel, as on a hung file system. */
  stall?: string;
}

export interface ScanResult {
  entries: [string, number][];
  rootError?: string;
}

const req = workerData as ScanRequest;
// Tests: a thread that fails before it watches anything (its part is then watched on the main thread).
if (process.env.SD_TEST_WATCH_THREAD === 'fail') throw new Error('the scanning thread fails (SD_TEST_WATCH_THREAD)');
const ops = inotifyOps(req.fd);
if (!ops) throw new Error('inotify is not reachable on the scanning thread');
if (req.stall) openSync(req.stall, 'r');
const set = new WatchSet(req.root, skipperOf(req.rules), ops, new Int32Array(req.shared));
set.load(req.entries);
const { rootError } = set.scan(req.queue, Infinity);
parentPort!.postMessage({ entries: set.entries(), rootError } satisfies ScanResult);
