// JobManager's context, input and events, and the ids of its children (service.ts is the machine).
import type { JobState } from '../../jobs/store.js';

export interface StoredJob {
  id: string;
  lib: string;
  kind: string;
  loc: string | null;
  input: unknown;
  state: JobState;
  pausedBy: string | null;
  message: string | null;
}

export interface NewJob {
  id: string;
  lib: string;
  kind: string;
  loc: string | null;
  input: unknown;
}

export interface JobsInput {
  /** This device: only its own locations are indexed and watched. */
  self: string;
  concurrency: number;
  /** Ids for the jobs the manager makes itself (index jobs of added locations, rescans). */
  newId: () => string;
}

export interface JobEntry {
  lib: string;
  loc: string | null;
  kind: string;
  state: JobState;
}

export interface JobsContext extends JobsInput {
  /** Every job with an actor (queued, running, paused; a failed one while it is retried). */
  jobs: Map<string, JobEntry>;
  /** Queued jobs in the order they queued. */
  queue: string[];
  /** Jobs holding a slot. */
  running: Set<string>;
  /** Watched location -> its library. */
  watchers: Map<string, string>;
  /** Folders a watcher reported while a job of their location was queued or running. */
  changes: Map<string, { lib: string; dirs: Set<string> }>;
}

export type JobsEvent =
  /** Jobs run in this process (the daemon, and a Core opened with services). */
  | { type: 'START' }
  | { type: 'LIBRARY_OPENED'; lib: string; jobs: StoredJob[]; locations: { id: string; watch: boolean }[] }
  | { type: 'ENQUEUE'; job: NewJob }
  /** A job with no actor (it failed) gets one again, to be resumed. */
  | { type: 'RESTORE'; job: StoredJob }
  | { type: 'COMMITTED'; lib: string; dev: string; seq: number; evType: string; body: unknown }
  | { type: 'JOB_STATE'; id: string; state: JobState }
  | { type: 'CHANGED'; lib: string; loc: string; scope: string[] }
  | { type: 'WATCH_ENDED'; loc: string }
  /** A writer (a transfer) holds a path of a location from its watcher, or lets it go. */
  | { type: 'HOLD' | 'RELEASE'; loc: string; path: string }
  | { type: 'SPACE' }
  | { type: 'SHUTDOWN' }
  | { type: 'STOP' };

export const jobActorId = (id: string): string => `job:${id}`;
export const watcherActorId = (loc: string): string => `watch:${loc}`;
