// `core.jobs`: the JobManager actor as commands and queries meet it. It keeps no state of its own:
// the queue, the slots and every job's state are the actors' (src/actors/jobs); finished jobs are
// in the store. Commands send events to a job's actor; queries read the actors' snapshots.
import { randomUUID } from 'node:crypto';
import type { AnyActorRef, EventObject } from 'xstate';
import type { EventBus } from '../bus.js';
import { SdError } from '../errors.js';
import type { Library } from '../library/library.js';
import { Threads, Watches, type JobsDeps } from '../actors/jobs/effects.js';
import { jobStateOf, type JobContext, type JobEvent, type StopReason } from '../actors/jobs/job.js';
import { jobActorId, STOP_GRACE_MS, type JobsContext, type StoredJob } from '../actors/jobs/service.js';
import type { JobRunner } from './context.js';
import { jobStore, type JobRow, type JobState } from './store.js';

export { STOP_GRACE_MS };

/** What the actor of a job that has one says about it. */
export interface LiveJob {
  state: JobState;
  /** Set while a run stops at its next batch (pause, cancel or shutdown). */
  stopping?: StopReason;
  phase?: string;
  done?: number;
  total?: number | null;
  rate?: number;
}

interface Snap<C> {
  value: unknown;
  status: string;
  context: C;
  children: Record<string, AnyActorRef>;
  can(e: EventObject): boolean;
}

const VERB: Record<string, string> = { PAUSE: 'paused', RESUME: 'resumed', CANCEL: 'cancelled' };

export class Jobs {
  readonly deps: JobsDeps;
  private actor: AnyActorRef | undefined;

  constructor(o: {
    bus: EventBus;
    libraries: () => Library[];
    runners: Record<string, JobRunner>;
    diskFull: (e: unknown, where: string) => void;
    warn: (o: object, msg: string) => void;
  }) {
    this.deps = {
      library: (id) => o.libraries().find((l) => l.id === id),
      runners: o.runners,
      bus: o.bus,
      threads: new Threads(),
      watches: new Watches(),
      diskFull: o.diskFull,
      warn: o.warn,
    };
  }

  /** The JobManager actor of the Core's actor system. */
  attach(actor: AnyActorRef): void {
    this.actor = actor;
  }

  private snap(): Snap<JobsContext> | undefined {
    return this.actor?.getSnapshot() as Snap<JobsContext> | undefined;
  }

  /** Whether jobs are taken (started, not stopping). */
  get serving(): boolean {
    const v = this.snap()?.value;
    return v === 'idle' || v === 'working';
  }

  /**
   * Starts the hashing threads ahead of a job about to be queued (`location add`): their 50-200 ms
   * of start-up then overlaps the command's own work. Unused, they close after the idle delay.
   */
  warmThreads(): void {
    if (!this.serving) return;
    this.deps.threads.get();
    if (this.snap()?.value === 'idle') this.deps.threads.release();
  }

  /** Jobs run in this process from now on; every library, open now or later, restores its jobs. */
  start(self: string, onOpen: (fn: (lib: Library) => void) => void): void {
    this.actor?.send({ type: 'START' });
    onOpen((lib) => {
      const jobs: StoredJob[] = jobStore(lib)
        .byState('queued', 'running', 'paused')
        .map((j) => ({ ...j, lib: lib.id }));
      const locations = (
        lib.db.prepare('SELECT id, watch FROM locations WHERE dev = ?').all(self) as { id: string; watch: number }[]
      ).map((r) => ({ id: r.id, watch: r.watch === 1 }));
      this.actor?.send({ type: 'LIBRARY_OPENED', lib: lib.id, jobs, locations });
    });
  }

  enqueue(lib: Library, kind: string, loc: string | null, input: unknown): JobRow {
    if (!this.deps.runners[kind]) throw new SdError('E_UNKNOWN_JOB_KIND', `no job kind "${kind}"`);
    this.mustServe();
    const id = randomUUID();
    this.actor!.send({ type: 'ENQUEUE', job: { id, lib: lib.id, kind, loc, input } });
    return this.row(lib, id);
  }

  pause(lib: Library, id: string): JobRow {
    return this.tell(lib, id, { type: 'PAUSE' });
  }

  resume(lib: Library, id: string): JobRow {
    return this.tell(lib, id, { type: 'RESUME' });
  }

  cancel(lib: Library, id: string): JobRow {
    return this.tell(lib, id, { type: 'CANCEL' });
  }

  /** Space is back on the disk: jobs a full disk paused go on from their last checkpoint. */
  space(): void {
    this.actor?.send({ type: 'SPACE' });
  }

  private tell(lib: Library, id: string, event: JobEvent): JobRow {
    let ref = this.jobActor(id);
    if (!ref) {
      const row = jobStore(lib).get(id);
      if (!row) throw new SdError('E_JOB_NOT_FOUND', `no job ${id}`);
      // A failed job is tried again: it gets an actor, which resumes it from its checkpoint.
      if (row.state !== 'failed' || event.type !== 'RESUME')
        throw new SdError('E_JOB_STATE', `a ${row.state} job cannot be ${VERB[event.type]}`);
      this.mustServe();
      this.actor!.send({ type: 'RESTORE', job: { ...row, lib: lib.id } satisfies StoredJob });
      ref = this.jobActor(id)!;
    }
    const snap = ref.getSnapshot() as Snap<JobContext>;
    if (!snap.can(event)) {
      const s = jobStateOf(snap);
      const now = s.stopping ? (s.stopping === 'cancel' ? 'cancelling' : 'pausing') : s.state;
      throw new SdError('E_JOB_STATE', `a ${now} job cannot be ${VERB[event.type]}`);
    }
    ref.send(event);
    return this.row(lib, id);
  }

  private mustServe(): void {
    if (!this.serving)
      throw new SdError('E_JOBS_STOPPED', 'jobs do not run now (the daemon is stopping, or runs without services)');
  }

  private row(lib: Library, id: string): JobRow {
    const r = jobStore(lib).get(id);
    if (!r) throw new SdError('E_DISK_FULL', `job ${id.slice(0, 8)} could not be saved (is the disk full?)`);
    return r;
  }

  private jobActor(id: string): AnyActorRef | undefined {
    return this.snap()?.children[jobActorId(id)];
  }

  /** Resolves once the job is not running (pause and cancel take effect at its next batch). */
  settled(id: string): Promise<void> {
    const ref = this.jobActor(id);
    const calm = (s: Snap<JobContext>): boolean => s.status !== 'active' || jobStateOf(s).state !== 'running';
    if (!ref || calm(ref.getSnapshot() as Snap<JobContext>)) return Promise.resolve();
    return new Promise((resolve) => {
      const sub = ref.subscribe({
        next: (s) => {
          if (!calm(s as Snap<JobContext>)) return;
          sub.unsubscribe();
          resolve();
        },
        error: () => resolve(),
        complete: () => resolve(),
      });
    });
  }

  /** Resolves once no job of the location runs (it was removed: its jobs were cancelled). */
  async locationSettled(loc: string): Promise<void> {
    for (const [id, j] of this.snap()?.context.jobs ?? []) if (j.loc === loc) await this.settled(id);
  }

  /** The newest job the manager holds for a location (the index job of a location just added). */
  latestFor(loc: string): string | undefined {
    let last: string | undefined;
    for (const [id, j] of this.snap()?.context.jobs ?? []) if (j.loc === loc) last = id;
    return last;
  }

  /** The location's watcher leaves `path` (relative) alone: a transfer writes there and indexes it itself. */
  hold(loc: string, path: string): void {
    if (this.snap()?.status === 'active') this.actor!.send({ type: 'HOLD', loc, path });
  }

  /** Ends a hold (a moment later: the events of the last writes may still be on their way). */
  release(loc: string, path: string): void {
    if (this.snap()?.status === 'active') this.actor!.send({ type: 'RELEASE', loc, path });
  }

  isWatching(loc: string): boolean {
    return !!this.snap()?.context.watchers.has(loc);
  }

  /** Every job with an actor, as its actor sees it now. */
  live(): Map<string, LiveJob> {
    const out = new Map<string, LiveJob>();
    for (const [name, ref] of Object.entries(this.snap()?.children ?? {})) {
      if (!name.startsWith('job:')) continue;
      const s = ref.getSnapshot() as Snap<JobContext>;
      if (s.status !== 'active') continue;
      const p = s.context.progress;
      out.set(s.context.id, { ...jobStateOf(s), ...(p ? { ...p } : {}) });
    }
    return out;
  }

  /** How many jobs are queued, running and paused (`sd status`). */
  counts(): { queued: number; running: number; paused: number } {
    const c = this.snap()?.context;
    const paused = [...(c?.jobs.values() ?? [])].filter((j) => j.state === 'paused').length;
    return { queued: c?.queue.length ?? 0, running: c?.running.size ?? 0, paused };
  }

  /**
   * Shutdown: running jobs stop at their next batch and are paused; they resume at the next start.
   * A job whose hashing thread is stuck in the kernel is given STOP_GRACE_MS, then its threads
   * are closed under it (the manager's `stopping` state). Returns the ids of jobs that still did not stop.
   */
  async stop(): Promise<string[]> {
    const actor = this.actor;
    if (actor && this.snap()?.status === 'active' && this.snap()?.value !== 'offline') {
      actor.send({ type: 'SHUTDOWN' });
      await new Promise<void>((resolve) => {
        const done = (): boolean => this.snap()?.status !== 'active' || this.snap()?.value === 'stopped';
        if (done()) return resolve();
        const sub = actor.subscribe({
          next: () => done() && (sub.unsubscribe(), resolve()),
          error: () => resolve(),
          complete: () => resolve(),
        });
      });
    }
    const left = [...(this.snap()?.context.running ?? [])];
    await this.deps.threads.close();
    return left;
  }
}
