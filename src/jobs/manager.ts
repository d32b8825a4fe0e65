// Runs jobs of every library through p-queue, persists their state and checkpoints, pauses
// them durably on shutdown and resumes interrupted ones at start.
import PQueue from 'p-queue';
import type { AnyActorRef } from 'xstate';
import type { EventBus } from '../bus.js';
import { SdError } from '../errors.js';
import { isDiskFull } from '../disk.js';
import { outsideCommands, type Library } from '../library/library.js';
import type { JobContext, JobRunner } from './context.js';
import { createHashPool, settlesWithin, type HashPool } from './hash-pool.js';

/** How long shutdown waits for running jobs to reach their next batch before giving up on them. */
export const STOP_GRACE_MS = 5_000;
import { nextJobState, type JobEvent } from './lifecycle.js';
import { JobStore, type JobRow } from './store.js';

interface Active {
  lib: Library;
  controller: AbortController;
  reason?: 'pause' | 'cancel' | 'shutdown';
  done: Promise<void>;
}

export class JobManager {
  private readonly queue: PQueue;
  private readonly stores = new Map<string, JobStore>();
  private readonly active = new Map<string, Active>();
  private readonly scheduled = new Set<string>();
  private pool: HashPool | undefined;
  private stopping = false;

  constructor(
    private readonly bus: EventBus,
    private readonly runners: Record<string, JobRunner>,
    private readonly actor: AnyActorRef | undefined,
    concurrency = 2,
  ) {
    this.queue = new PQueue({ concurrency });
  }

  store(lib: Library): JobStore {
    let s = this.stores.get(lib.id);
    if (!s) this.stores.set(lib.id, (s = new JobStore(lib.db)));
    return s;
  }

  /** At start: jobs a crash left running, or a shutdown paused, go back to the queue. */
  resumeInterrupted(lib: Library): void {
    const s = this.store(lib);
    for (const j of s.byState('running')) {
      s.setState(j.id, nextJobState('running', 'INTERRUPTED'));
      s.markResumed(j.id);
    }
    for (const j of s.byState('paused')) {
      if (j.pausedBy === 'shutdown' || j.pausedBy === 'disk-full') {
        s.setState(j.id, nextJobState('paused', 'RESUME'));
        s.markResumed(j.id);
      }
    }
    for (const j of s.byState('queued')) this.schedule(lib, j.id);
  }

  enqueue(lib: Library, kind: string, loc: string | null, input: unknown): JobRow {
    if (!this.runners[kind]) throw new SdError('E_UNKNOWN_JOB_KIND', `no job kind "${kind}"`);
    const job = this.store(lib).create(kind, loc, input);
    this.publish(lib, job);
    this.schedule(lib, job.id);
    return job;
  }

  private transition(
    lib: Library,
    id: string,
    event: JobEvent['type'],
    extra: { message?: string; pausedBy?: string | null } = {},
  ): JobRow {
    const s = this.store(lib);
    const job = s.get(id);
    if (!job) throw new SdError('E_JOB_NOT_FOUND', `no job ${id}`);
    s.setState(id, nextJobState(job.state, event), extra);
    const after = s.get(id)!;
    this.publish(lib, after);
    return after;
  }

  private schedule(lib: Library, id: string): void {
    if (this.scheduled.has(id) || this.stopping) return;
    this.scheduled.add(id);
    this.changed();
    void this.queue
      .add(() => outsideCommands(() => this.run(lib, id)))
      .finally(() => {
        this.scheduled.delete(id);
        this.changed();
      });
  }

  private async run(lib: Library, id: string): Promise<void> {
    const s = this.store(lib);
    const job = s.get(id);
    if (!job || job.state !== 'queued' || this.stopping || !lib.db.open) return;
    s.setState(id, nextJobState('queued', 'START'));
    const controller = new AbortController();
    let resolveDone!: () => void;
    const entry: Active = { lib, controller, done: new Promise((r) => (resolveDone = r)) };
    this.active.set(id, entry);
    const started = Date.now();
    const baseMs = job.runMs;
    let lastProgress = 0;
    const ctx: JobContext = {
      lib,
      job: s.get(id)!,
      signal: controller.signal,
      pool: () => (this.pool ??= createHashPool()),
      commit: (fn, phase, checkpoint, done, total) => {
        lib.write(() => {
          fn();
          s.checkpoint(id, phase, checkpoint, done, total, baseMs + Date.now() - started);
        });
        lib.flush(); // a job batch is already a group of ~1,000 entries: durable before progress
      },
      progress: (phase, done, total) => {
        const now = Date.now();
        if (now - lastProgress < 100) return; // at most 10 a second
        lastProgress = now;
        const ms = baseMs + now - started;
        this.bus.publish({
          kind: 'job',
          lib: lib.id,
          job: id,
          jobKind: job.kind,
          state: 'running',
          phase,
          done,
          total: total ?? undefined,
          rate: ms > 0 ? Math.round((done / ms) * 1000) : 0,
        });
      },
      errors: (list) => {
        if (list.length) s.addErrors(id, list);
      },
    };
    this.publish(lib, s.get(id)!);
    try {
      await this.runners[job.kind]!(ctx);
      if (entry.reason === 'cancel') this.transition(lib, id, 'CANCEL');
      else if (entry.reason)
        this.transition(lib, id, 'PAUSE', { pausedBy: entry.reason === 'shutdown' ? 'shutdown' : 'user' });
      else this.transition(lib, id, 'COMPLETE');
    } catch (e) {
      // A full disk pauses the job at its last committed batch; it resumes when space returns.
      if (isDiskFull(e) && lib.db.open && !entry.reason) this.pauseForSpace(lib, id, e);
      // A job stopped from outside (its pool closed at shutdown) is paused or cancelled, not failed.
      else if (lib.db.open && entry.reason === 'cancel') this.transition(lib, id, 'CANCEL');
      else if (lib.db.open && entry.reason)
        this.transition(lib, id, 'PAUSE', { pausedBy: entry.reason === 'shutdown' ? 'shutdown' : 'user' });
      else if (lib.db.open) this.transition(lib, id, 'FAIL', { message: e instanceof Error ? e.message : String(e) });
    } finally {
      this.active.delete(id);
      resolveDone();
      // Hash workers hold memory of their own: let them go when no job is left to use them.
      if (this.active.size === 0 && this.scheduled.size <= 1 && this.pool) {
        const pool = this.pool;
        this.pool = undefined;
        void pool.close();
      }
    }
  }

  private readonly waitingForSpace = new Map<string, Library>();

  private pauseForSpace(lib: Library, id: string, e: unknown): void {
    this.waitingForSpace.set(id, lib);
    this.onDiskFull?.(e, `job ${id.slice(0, 8)}`);
    try {
      this.transition(lib, id, 'PAUSE', {
        pausedBy: 'disk-full',
        message: 'the disk is full; resumes when space returns',
      });
    } catch {
      // Not even the pause fits on the disk: the row still says running, which the resume handles.
    }
  }

  /** Reported with every job that a full disk paused (the Core's disk monitor). */
  onDiskFull: ((e: unknown, where: string) => void) | undefined;

  /** Space is back: jobs a full disk paused go back to the queue, from their last checkpoint. */
  resumeAfterSpace(): void {
    for (const [id, lib] of [...this.waitingForSpace]) {
      this.waitingForSpace.delete(id);
      if (!lib.db.open) continue;
      const s = this.store(lib);
      const j = s.get(id);
      try {
        if (j?.state === 'running') s.setState(id, nextJobState('running', 'INTERRUPTED'));
        else if (j?.state === 'paused' && j.pausedBy === 'disk-full')
          this.transition(lib, id, 'RESUME', { pausedBy: null });
        else continue;
        s.markResumed(id);
        this.schedule(lib, id);
      } catch (e) {
        if (!isDiskFull(e)) throw e;
        this.waitingForSpace.set(id, lib); // full again: next time
      }
    }
  }

  pause(lib: Library, id: string): JobRow {
    const a = this.active.get(id);
    if (a) {
      a.reason = 'pause';
      a.controller.abort();
      return this.store(lib).get(id)!;
    }
    return this.transition(lib, id, 'PAUSE', { pausedBy: 'user' });
  }

  resume(lib: Library, id: string): JobRow {
    const j = this.transition(lib, id, 'RESUME', { pausedBy: null });
    this.store(lib).markResumed(id);
    this.schedule(lib, id);
    return j;
  }

  cancel(lib: Library, id: string): JobRow {
    const a = this.active.get(id);
    if (a) {
      a.reason = 'cancel';
      a.controller.abort();
      return this.store(lib).get(id)!;
    }
    return this.transition(lib, id, 'CANCEL');
  }

  /** Waits until the job is no longer running (pause/cancel take effect at a batch boundary). */
  async settled(id: string): Promise<void> {
    await this.active.get(id)?.done;
  }

  isActive(id: string): boolean {
    return this.active.has(id) || this.scheduled.has(id);
  }

  /** Cancels every job of a location (it is being removed). */
  async cancelLocation(lib: Library, loc: string): Promise<void> {
    for (const j of this.store(lib).byState('queued', 'running', 'paused')) {
      if (j.loc === loc) {
        this.cancel(lib, j.id);
        await this.settled(j.id);
      }
    }
  }

  /**
   * Shutdown: running jobs stop at their next batch, paused durably; they resume at next start.
   * A job whose hashing thread is stuck in the kernel (a read that never returns) is given
   * STOP_GRACE_MS, then its pool is closed under it: it is paused by shutdown all the same.
   * Returns the ids of jobs that still did not stop.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<string[]> {
    this.stopping = true;
    this.queue.clear();
    for (const a of this.active.values()) {
      a.reason ??= 'shutdown';
      a.controller.abort();
    }
    const all = Promise.all([...this.active.values()].map((a) => a.done));
    const settled = await settlesWithin(all, graceMs);
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
    if (!settled) await settlesWithin(all, 1000);
    return [...this.active.keys()];
  }

  private publish(lib: Library, j: JobRow): void {
    this.bus.publish({
      kind: 'job',
      lib: lib.id,
      job: j.id,
      jobKind: j.kind,
      state: j.state,
      phase: j.phase ?? undefined,
      done: j.done,
      total: j.total ?? undefined,
      errors: j.errors,
    });
  }

  private changed(): void {
    this.actor?.send({
      type: 'JOBS_CHANGED',
      running: this.active.size,
      queued: Math.max(0, this.scheduled.size - this.active.size),
    });
  }
}
