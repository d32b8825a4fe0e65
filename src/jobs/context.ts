// What a job runner gets from the JobManager.
import type { Library } from '../library/library.js';
import type { HashPool } from './hash-pool.js';
import type { JobRow } from './store.js';

export interface JobContext {
  lib: Library;
  job: JobRow;
  signal: AbortSignal;
  pool(): HashPool;
  /** Runs fn (which appends events) and stores the checkpoint in the same transaction. */
  commit(fn: () => void, phase: string, checkpoint: unknown, done: number, total: number | null): void;
  /** Progress for the bus; throttled to 10 a second per job. */
  progress(phase: string, done: number, total: number | null): void;
  errors(list: { path: string; code: string; message: string }[]): void;
}

export type JobRunner = (ctx: JobContext) => Promise<void>;
