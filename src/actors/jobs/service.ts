// JobManager: owns the queue of every library's background jobs and one actor per job (job.ts)
// and per watched location (watcher.ts). It hands out the slots (2 jobs run at once), reacts to
// the log (a location of this device added, removed or its watch switched: COMMITTED) and to its
// watchers (CHANGED: one rescan per location at a time, changes meanwhile wait for the next), and
// stops the running jobs at shutdown: they get STOP_GRACE_MS to reach their next batch, then
// their hashing threads are closed under them.
import { and, enqueueActions, not, or, setup, stateIn, type AnyActorRef } from 'xstate';
import { ownerOfLocation } from '../../projections/rules.js';
import { FINISHED } from '../../jobs/store.js';
import { jobMachine, type JobEvent, type JobInput } from './job.js';
import { watcherMachine, scopeOf, type WatcherInput } from './watcher.js';
import { jobActorId, watcherActorId, type JobsContext, type JobsEvent, type JobsInput } from './types.js';

export * from './types.js';

/** How long shutdown waits for running jobs to reach their next batch before closing their threads. */
export const STOP_GRACE_MS = 5_000;
/** After the threads are closed, how long before the manager stops waiting for those jobs. */
export const THREADS_GRACE_MS = 1_000;

/** The few things the handlers enqueue, typed once. */
interface Enqueue {
  spawnChild(src: 'job', o: { id: string; input: JobInput }): void;
  spawnChild(src: 'watcher', o: { id: string; input: WatcherInput }): void;
  sendTo(id: string, e: JobEvent): void;
  stopChild(id: string): void;
  assign(c: Partial<JobsContext>): void;
}

type Draft = Pick<JobsContext, 'jobs' | 'queue' | 'running' | 'watchers' | 'changes'>;

const draftOf = (c: JobsContext): Draft => ({
  jobs: new Map(c.jobs),
  queue: [...c.queue],
  running: new Set(c.running),
  watchers: new Map(c.watchers),
  changes: new Map(c.changes),
});

function spawnJob(d: Draft, q: Enqueue, input: JobInput): void {
  if (d.jobs.has(input.id)) return;
  q.spawnChild('job', { id: jobActorId(input.id), input });
  d.jobs.set(input.id, { lib: input.lib, loc: input.loc, kind: input.kind, state: input.stored?.state ?? 'queued' });
}

const indexJob = (c: JobsContext, lib: string, loc: string, extra: object = {}): JobInput => ({
  id: c.newId(),
  lib,
  kind: 'index',
  loc,
  input: { loc, ...extra },
});

function watch(d: Draft, q: Enqueue, lib: string, loc: string): void {
  if (d.watchers.has(loc)) return;
  q.spawnChild('watcher', { id: watcherActorId(loc), input: { lib, loc } });
  d.watchers.set(loc, lib);
}

function unwatch(d: Draft, q: Enqueue, loc: string): void {
  if (!d.watchers.delete(loc)) return;
  q.stopChild(watcherActorId(loc));
}

const busy = (d: Draft, loc: string): boolean =>
  [...d.jobs.values()].some((j) => j.loc === loc && (j.state === 'queued' || j.state === 'running'));

/** Changes reported while their location's job was queued or running become a rescan once it is not. */
function rescanChanges(c: JobsContext, d: Draft, q: Enqueue): void {
  for (const [loc, ch] of d.changes)
    if (!busy(d, loc)) {
      d.changes.delete(loc);
      spawnJob(d, q, indexJob(c, ch.lib, loc, { scope: scopeOf(ch.dirs), watch: true }));
    }
}

/** Free slots go to the queue's head. */
function schedule(c: JobsContext, d: Draft, q: Enqueue): void {
  while (d.running.size < c.concurrency && d.queue.length > 0) {
    const id = d.queue.shift()!;
    d.running.add(id);
    q.sendTo(jobActorId(id), { type: 'START' });
  }
}

const ownLocation = (c: JobsContext, e: JobsEvent): string | undefined => {
  if (e.type !== 'COMMITTED' || !e.evType.startsWith('location.') || e.dev !== c.self) return undefined;
  const id = (e.body as { id?: unknown } | null)?.id;
  return typeof id === 'string' && ownerOfLocation(id) === c.self ? id : undefined;
};

export const jobsMachine = setup({
  types: {} as { context: JobsContext; events: JobsEvent; input: JobsInput },
  actors: { job: jobMachine, watcher: watcherMachine },
  actions: {
    /** Hashing threads hold memory of their own: they go when no job is left to use them. */
    releaseThreads: () => undefined,
    /** Shutdown's grace is over: the threads are closed under the jobs still running. */
    closeThreads: () => undefined,
    /** HOLD and RELEASE go to the location's watcher, if it has one. */
    toWatcher: enqueueActions(({ context, event, enqueue }) => {
      if ((event.type !== 'HOLD' && event.type !== 'RELEASE') || !context.watchers.has(event.loc)) return;
      enqueue.sendTo(watcherActorId(event.loc), { type: event.type, path: event.path });
    }),
  },
  guards: {
    /** Jobs are being taken and run (not offline, not stopping). */
    serving: or([stateIn('#JobManager.idle'), stateIn('#JobManager.working')]),
    started: not(stateIn('#JobManager.offline')),
    busy: ({ context }) => context.queue.length + context.running.size > 0,
    done: ({ context }) => context.queue.length + context.running.size === 0,
    noneRunning: ({ context }) => context.running.size === 0,
    locationAdded: ({ context, event }) =>
      event.type === 'COMMITTED' && event.evType === 'location.added' && !!ownLocation(context, event),
    locationRemoved: ({ context, event }) =>
      event.type === 'COMMITTED' && event.evType === 'location.removed' && !!ownLocation(context, event),
    watchSwitched: ({ context, event }) =>
      event.type === 'COMMITTED' &&
      event.evType === 'location.updated' &&
      typeof (event.body as { watch?: unknown }).watch === 'boolean' &&
      !!ownLocation(context, event),
  },
  delays: { stopGrace: STOP_GRACE_MS, threadsGrace: THREADS_GRACE_MS },
}).createMachine({
  id: 'JobManager',
  context: ({ input }) => ({
    ...input,
    jobs: new Map(),
    queue: [],
    running: new Set(),
    watchers: new Map(),
    changes: new Map(),
  }),
  initial: 'offline',
  states: {
    /** Jobs do not run in this process (a Core opened without services). */
    offline: { on: { START: 'idle' } },
    idle: { entry: 'releaseThreads', always: { guard: 'busy', target: 'working' } },
    working: { always: { guard: 'done', target: 'idle' } },
    /** Running jobs were told to stop; they have STOP_GRACE_MS, then their threads are closed. */
    stopping: {
      entry: enqueueActions(({ context, enqueue }) => {
        const q = enqueue as unknown as Enqueue;
        const d = draftOf(context);
        for (const id of d.running) q.sendTo(jobActorId(id), { type: 'SHUTDOWN' });
        for (const loc of [...d.watchers.keys()]) unwatch(d, q, loc);
        d.changes.clear();
        q.assign(d);
      }),
      always: { guard: 'noneRunning', target: 'stopped' },
      initial: 'grace',
      states: {
        grace: { after: { stopGrace: 'closingThreads' } },
        closingThreads: { entry: 'closeThreads', after: { threadsGrace: '#JobManager.stopped' } },
      },
    },
    stopped: { type: 'final', entry: 'releaseThreads' },
  },
  on: {
    STOP: '.stopped',
    SHUTDOWN: { guard: 'serving', target: '.stopping' },
    LIBRARY_OPENED: {
      guard: 'serving',
      actions: enqueueActions(({ context, event, enqueue }) => {
        const q = enqueue as unknown as Enqueue;
        const d = draftOf(context);
        for (const j of event.jobs)
          spawnJob(d, q, { ...j, stored: { state: j.state, pausedBy: j.pausedBy, message: j.message } });
        // After the daemon was down, each location is reconciled with a quick rescan.
        // The watch first: a job of a watched location walks once every folder is watched.
        for (const l of event.locations) {
          if (l.watch) watch(d, q, event.lib, l.id);
          if (!busyOrPaused(d, l.id)) spawnJob(d, q, indexJob(context, event.lib, l.id, { reconcile: true }));
        }
        q.assign(d);
      }),
    },
    COMMITTED: [
      {
        guard: and(['serving', 'locationAdded']),
        actions: enqueueActions(({ context, event, enqueue }) => {
          const q = enqueue as unknown as Enqueue;
          const d = draftOf(context);
          const loc = ownLocation(context, event)!;
          if ((event.body as { watch?: boolean }).watch) watch(d, q, event.lib, loc);
          spawnJob(d, q, indexJob(context, event.lib, loc));
          q.assign(d);
        }),
      },
      {
        guard: and(['serving', 'locationRemoved']),
        actions: enqueueActions(({ context, event, enqueue }) => {
          const q = enqueue as unknown as Enqueue;
          const d = draftOf(context);
          const loc = ownLocation(context, event)!;
          for (const [id, j] of d.jobs) if (j.loc === loc) q.sendTo(jobActorId(id), { type: 'CANCEL' });
          unwatch(d, q, loc);
          d.changes.delete(loc);
          q.assign(d);
        }),
      },
      {
        guard: and(['serving', 'watchSwitched']),
        actions: enqueueActions(({ context, event, enqueue }) => {
          const q = enqueue as unknown as Enqueue;
          const d = draftOf(context);
          const loc = ownLocation(context, event)!;
          if ((event.body as { watch: boolean }).watch) watch(d, q, event.lib, loc);
          else unwatch(d, q, loc);
          q.assign(d);
        }),
      },
    ],
    CHANGED: {
      guard: 'serving',
      actions: enqueueActions(({ context, event, enqueue }) => {
        const q = enqueue as unknown as Enqueue;
        const d = draftOf(context);
        if (!d.watchers.has(event.loc)) return;
        const ch = d.changes.get(event.loc) ?? { lib: event.lib, dirs: new Set<string>() };
        d.changes.set(event.loc, { lib: ch.lib, dirs: new Set([...ch.dirs, ...event.scope]) });
        rescanChanges(context, d, q);
        q.assign(d);
      }),
    },
    SPACE: {
      guard: 'serving',
      actions: enqueueActions(({ context, enqueue }) => {
        for (const [id, j] of context.jobs) if (j.state === 'paused') enqueue.sendTo(jobActorId(id), { type: 'SPACE' });
      }),
    },
    ENQUEUE: {
      guard: 'started',
      actions: enqueueActions(({ context, event, enqueue }) => {
        const q = enqueue as unknown as Enqueue;
        const d = draftOf(context);
        spawnJob(d, q, event.job);
        q.assign(d);
      }),
    },
    RESTORE: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const q = enqueue as unknown as Enqueue;
        const d = draftOf(context);
        const j = event.job;
        spawnJob(d, q, { ...j, stored: { state: j.state, pausedBy: j.pausedBy, message: j.message } });
        q.assign(d);
      }),
    },
    JOB_STATE: {
      actions: enqueueActions(({ context, event, enqueue, check }) => {
        const q = enqueue as unknown as Enqueue;
        const d = draftOf(context);
        const entry = d.jobs.get(event.id);
        if (!entry) return;
        d.queue = d.queue.filter((id) => id !== event.id);
        d.running.delete(event.id);
        if (event.state === 'queued') d.queue.push(event.id);
        if (event.state === 'running') d.running.add(event.id);
        if (FINISHED.includes(event.state)) {
          d.jobs.delete(event.id);
          q.stopChild(jobActorId(event.id));
        } else d.jobs.set(event.id, { ...entry, state: event.state });
        if (check('serving')) {
          rescanChanges(context, d, q);
          schedule(context, d, q);
        }
        q.assign(d);
      }),
    },
    // Not watched: nothing to hold. A watcher started later sees only what is written after it.
    HOLD: { actions: 'toWatcher' },
    RELEASE: { actions: 'toWatcher' },
    WATCH_ENDED: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const watchers = new Map(context.watchers);
        if (watchers.delete(event.loc)) enqueue.assign({ watchers });
      }),
    },
  },
});

/** A job of the location that is queued, running or paused: a reconcile rescan would repeat it. */
function busyOrPaused(d: Draft, loc: string): boolean {
  return [...d.jobs.values()].some((j) => j.loc === loc && !FINISHED.includes(j.state));
}

export type JobsActor = AnyActorRef;
