// The real effects of JobManager, its job actors and its watchers: the runners of each job kind
// (outside every command's scope, with their batches committed together with their checkpoints),
// the store, the bus, the hashing threads, and the operating system's watch of a location. The
// machines name them; the Core supplies them here, tests supply doubles.
import { watch, type FSWatcher } from 'node:fs';
import { fromCallback } from 'xstate';
import type { EventBus } from '../../bus.js';
import { isDiskFull } from '../../disk.js';
import { SdError } from '../../errors.js';
import { outsideCommands, type Library } from '../../library/library.js';
import type { JobContext as RunContext, JobRunner } from '../../jobs/context.js';
import { createHashPool, type HashPool } from '../../jobs/hash-pool.js';
import { excludedBelow } from '../../jobs/exclude.js';
import { jobStore, type JobRow } from '../../jobs/store.js';
import { stmt } from '../../projections/types.js';
import { DEFAULT_SKIP_NAMES, type WalkRules } from '../../jobs/walk.js';
import { jobMachine, type JobContext, type JobEvent, type PhasesInput } from './job.js';
import { jobsMachine } from './service.js';
import { watcherMachine, type WatcherEvent, type WatcherInput } from './watcher.js';
import { watchTree, type TreeWatch } from './watch-tree.js';
import { skipperOf, type WatchRules } from './watch-set.js';

/** How long the hashing threads outlive the last job: starting them costs 150-200 ms. */
const THREADS_IDLE_MS = 10_000;

/**
 * The hashing threads the jobs share: made on first use, closed once no job has needed them for
 * THREADS_IDLE_MS. A watcher's rescan of a few files after another job then finds them warm.
 */
export class Threads {
  private pool: HashPool | undefined;
  private closing: Promise<void> = Promise.resolve();
  private shut = false;
  private idle: NodeJS.Timeout | undefined;

  get(): HashPool {
    if (this.shut) throw new SdError('E_POOL_CLOSED', 'the hashing threads were closed: the daemon is stopping');
    clearTimeout(this.idle);
    this.idle = undefined;
    return (this.pool ??= createHashPool());
  }

  /** Whether the threads are started (tests). */
  get running(): boolean {
    return this.pool !== undefined;
  }

  /** No job needs the threads now: they close unless one does within THREADS_IDLE_MS. */
  release(): void {
    if (!this.pool || this.idle) return;
    this.idle = setTimeout(() => this.closeNow(), THREADS_IDLE_MS);
    this.idle.unref();
  }

  private closeNow(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    const p = this.pool;
    this.pool = undefined;
    if (p) this.closing = Promise.all([this.closing, p.close()]).then(() => undefined);
  }

  /** Shutdown: closes the threads (under any job still using them) and makes no new ones. */
  close(): Promise<void> {
    this.shut = true;
    this.closeNow();
    return this.closing;
  }
}

/**
 * The watches of the locations, by location: a job of a watched location starts walking once its
 * watch is in place (every folder is watched before the walk lists it, so no change falls between).
 */
export class Watches {
  private readonly trees = new Map<string, TreeWatch>();

  set(loc: string, tree: TreeWatch): void {
    this.trees.set(loc, tree);
  }

  delete(loc: string, tree: TreeWatch): void {
    if (this.trees.get(loc) === tree) this.trees.delete(loc);
  }

  /** Settles once the location's watch is in place (at once if it has none), or on `signal`. */
  ready(loc: string, signal: AbortSignal): Promise<void> {
    const tree = this.trees.get(loc);
    if (!tree || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => resolve(), { once: true });
      void tree.ready().then(resolve);
    });
  }
}

export interface JobsDeps {
  library(id: string): Library | undefined;
  runners: Record<string, JobRunner>;
  bus: EventBus;
  threads: Threads;
  watches: Watches;
  /** A full disk met by `where` (the Core's disk monitor). */
  diskFull(e: unknown, where: string): void;
  warn(o: object, msg: string): void;
}

const short = (id: string): string => id.slice(0, 8);

function publish(bus: EventBus, lib: string, j: JobRow): void {
  bus.publish({
    kind: 'job',
    lib,
    job: j.id,
    jobKind: j.kind,
    state: j.state,
    phase: j.phase ?? undefined,
    done: j.done,
    total: j.total ?? undefined,
    errors: j.errors,
  });
}

/** Runs a job's runner to its end; its batches commit with the checkpoint that covers them. */
async function run(deps: JobsDeps, input: PhasesInput, signal: AbortSignal, report: (e: JobEvent) => void) {
  const lib = deps.library(input.lib);
  if (!lib?.db.open) throw new SdError('E_LIBRARY_CLOSED', 'the library of this job is closed');
  const runner = deps.runners[input.kind];
  if (!runner) throw new SdError('E_UNKNOWN_JOB_KIND', `no job kind "${input.kind}"`);
  const s = jobStore(lib);
  const job = s.get(input.id);
  if (!job) throw new SdError('E_JOB_NOT_FOUND', `job ${input.id} is not in the store`);
  if (job.loc) await deps.watches.ready(job.loc, signal);
  // The job's first steps run on this thread (its walk, until the hashing threads are up): the
  // command that queued it answers first (`sd location add` answered 80-270 ms after the job began).
  await new Promise<void>((r) => setImmediate(r));
  if (signal.aborted) return;
  const started = Date.now();
  const baseMs = job.runMs;
  let lastProgress = 0;
  const ctx: RunContext = {
    lib,
    job,
    signal,
    pool: () => deps.threads.get(),
    commit: (fn, phase, checkpoint, done, total) => {
      lib.write(() => {
        // A location removed while its job ran gets no more entries (its removal cancels the job).
        if (job.loc && !stmt(lib.db, 'SELECT 1 FROM locations WHERE id = ?').get(job.loc))
          throw new SdError('E_LOCATION_REMOVED', 'the location was removed while the job ran');
        fn();
        s.checkpoint(input.id, phase, checkpoint, done, total, baseMs + Date.now() - started);
      });
      lib.flush(); // a job batch is already a group of ~1,000 entries: durable before progress
    },
    progress: (phase, done, total) => {
      const now = Date.now();
      if (now - lastProgress < 100) return; // at most 10 a second
      lastProgress = now;
      const ms = baseMs + now - started;
      report({ type: 'PROGRESS', phase, done, total, rate: ms > 0 ? Math.round((done / ms) * 1000) : 0 });
    },
    errors: (list) => {
      if (list.length) s.addErrors(input.id, list);
    },
  };
  await runner(ctx);
}

export function liveJobMachine(deps: JobsDeps) {
  const guarded = (context: JobContext, what: string, fn: (lib: Library) => void): void => {
    const lib = deps.library(context.lib);
    if (!lib?.db.open) return;
    try {
      fn(lib);
    } catch (e) {
      // Not even the state fits on the disk: the actor holds it, the next transition writes it.
      if (isDiskFull(e)) deps.diskFull(e, `job ${short(context.id)}`);
      else deps.warn({ job: context.id, err: (e as Error).message }, `could not ${what}`);
    }
  };
  return jobMachine.provide({
    actors: {
      phases: fromCallback<{ type: 'ABORT' }, PhasesInput>(({ input, sendBack, receive }) => {
        const controller = new AbortController();
        receive((e) => e.type === 'ABORT' && controller.abort());
        // Jobs a command starts are not the command: their events are not its own.
        outsideCommands(() => run(deps, input, controller.signal, sendBack)).then(
          () => sendBack({ type: 'PHASES_DONE' }),
          (error: unknown) => sendBack({ type: 'PHASES_FAILED', error }),
        );
        return () => controller.abort();
      }),
    },
    actions: {
      persist: ({ context }, { state }) =>
        guarded(context, 'save the job state', (lib) => {
          const s = jobStore(lib);
          s.save(context, state, { pausedBy: context.pausedBy, message: context.message });
          const row = s.get(context.id);
          if (row) publish(deps.bus, lib.id, row);
        }),
      countResume: ({ context }) => guarded(context, 'count a resume', (lib) => jobStore(lib).markResumed(context.id)),
      announce: ({ context }) => {
        const p = context.progress;
        if (!p) return;
        deps.bus.publish({
          kind: 'job',
          lib: context.lib,
          job: context.id,
          jobKind: context.kind,
          state: 'running',
          phase: p.phase,
          done: p.done,
          total: p.total ?? undefined,
          rate: p.rate,
        });
      },
      diskFull: ({ context }, { error }) => deps.diskFull(error, `job ${short(context.id)}`),
    },
  });
}

/** The operating system's watch of a location, its rules applied: FS_CHANGE with the folder that changed. */
function fsEvents(deps: JobsDeps) {
  return fromCallback<WatcherEvent, WatcherInput>(({ input, sendBack }) => {
    const lib = deps.library(input.lib);
    const row = lib?.db.prepare('SELECT path, rules FROM locations WHERE id = ?').get(input.loc) as
      { path: string; rules: string } | undefined;
    if (!row) {
      sendBack({ type: 'WATCH_FAILED', message: 'the location is gone' });
      return;
    }
    const rules = JSON.parse(row.rules) as WalkRules;
    // The data dir inside a location changes with every database write: its events are not ours to index.
    const watchRules: WatchRules = {
      skipNames: rules.skipNames ?? DEFAULT_SKIP_NAMES,
      skipHidden: rules.skipHidden ?? true,
      excluded: excludedBelow(row.path).map((e) => e.path.slice(row.path.length + 1)),
      gitignore: rules.gitignore ?? false,
    };
    const skip = skipperOf(watchRules);
    const changed = (rel: string): void => {
      if (rel !== '' && skip(rel)) return;
      sendBack({ type: 'FS_CHANGE', dir: rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '', path: rel });
    };
    const failed = (e: Error): void => sendBack({ type: 'WATCH_FAILED', message: e.message });
    // Linux: one watch per folder (watch-tree.ts); elsewhere the system's own recursive watch.
    if (process.platform === 'linux') {
      const tree = watchTree(row.path, watchRules, changed, failed);
      deps.watches.set(input.loc, tree);
      return () => {
        deps.watches.delete(input.loc, tree);
        tree.close();
      };
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(row.path, { recursive: true }, (_type, filename) =>
        changed(filename === null ? '' : String(filename).split('\\').join('/')),
      );
    } catch (e) {
      failed(e as Error);
      return;
    }
    watcher.on('error', failed);
    return () => watcher.close();
  });
}

export function liveWatcherMachine(deps: JobsDeps) {
  return watcherMachine.provide({
    actors: { fsEvents: fsEvents(deps) },
    actions: {
      warn: ({ context }, { message }) =>
        deps.warn({ loc: context.loc, err: message }, 'watching a location failed; rescan it by hand'),
    },
  });
}

export function liveJobsMachine(deps: JobsDeps) {
  return jobsMachine.provide({
    actors: { job: liveJobMachine(deps), watcher: liveWatcherMachine(deps) },
    actions: {
      releaseThreads: () => deps.threads.release(),
      closeThreads: () => void deps.threads.close(),
    },
  });
}
