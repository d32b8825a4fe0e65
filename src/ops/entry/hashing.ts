// Content ids for file operations come from a small pool of hashing threads, never from the
// daemon's main thread: a slow or stuck read then stalls one worker, not every client. The pool
// starts on first use and stops after 10 idle seconds (and at Core.close).
import { createHashPool, type HashPath, type HashPool, type HashResult } from '../../jobs/hash-pool.js';

const IDLE_MS = 10_000;
let pool: HashPool | undefined;
let users = 0;
let idleTimer: NodeJS.Timeout | undefined;

/** Identifies files (results in order; per-file failures are values). */
export async function hashFiles(paths: readonly HashPath[]): Promise<HashResult[]> {
  if (paths.length === 0) return [];
  clearTimeout(idleTimer);
  const p = (pool ??= createHashPool({ threads: 2, batchSize: 256 }));
  users++;
  try {
    return await p.hash(paths);
  } finally {
    if (--users === 0) {
      idleTimer = setTimeout(() => void closeOpsPool(), IDLE_MS);
      idleTimer.unref();
    }
  }
}

/** Starts the threads now (they load in the background) when hashing is about to be needed. */
export function warmHashing(): void {
  clearTimeout(idleTimer);
  pool ??= createHashPool({ threads: 2, batchSize: 256 });
  if (users === 0) {
    idleTimer = setTimeout(() => void closeOpsPool(), IDLE_MS);
    idleTimer.unref();
  }
}

/** Whether the threads are running (tests: work that should not need them did not start them). */
export const opsHashingRunning = (): boolean => pool !== undefined;

export async function closeOpsPool(): Promise<void> {
  clearTimeout(idleTimer);
  const p = pool;
  pool = undefined;
  if (p) await p.close();
}
