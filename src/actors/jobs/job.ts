// One background job, as JobManager sees it: queued → running → paused / completed / failed /
// cancelled. Running invokes the job's phases (the runner of its kind); pause, cancel and shutdown
// ask the run to stop at its next batch and wait for it (running.stopping) before the job is
// paused or cancelled, so a resumed job never meets its own previous run. Every state is saved
// (the `persist` action) as it is entered; a job restored from the store starts where it was left.
import { assign, fromCallback, sendParent, sendTo, setup, type AnyActorRef } from 'xstate';
import { isDiskFull } from '../../disk.js';
import type { JobState } from '../../jobs/store.js';

export type { JobState };
export type StopReason = 'user' | 'cancel' | 'shutdown';

export interface JobInput {
  id: string;
  lib: string;
  kind: string;
  loc: string | null;
  input: unknown;
  /** Where the store left a job restored at start (or to be resumed after it failed). */
  stored?: { state: JobState; pausedBy: string | null; message: string | null };
}

export interface JobProgress {
  phase: string;
  done: number;
  total: number | null;
  /** Entries a second over the job's running time. */
  rate: number;
}

export interface JobContext extends JobInput {
  /** Why the run is being stopped (running.stopping). */
  stopFor: StopReason | null;
  /** Who paused it: user, shutdown or disk-full. */
  pausedBy: string | null;
  message: string | null;
  progress: JobProgress | null;
}

export type JobEvent =
  /** A slot is free: the manager lets the job run. */
  | { type: 'START' }
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'CANCEL' }
  /** The daemon stops: a running job pauses at its next batch and resumes at the next start. */
  | { type: 'SHUTDOWN' }
  /** The disk has room again: a job that a full disk paused goes back to the queue. */
  | { type: 'SPACE' }
  | ({ type: 'PROGRESS' } & JobProgress)
  | { type: 'PHASES_DONE' }
  | { type: 'PHASES_FAILED'; error: unknown };

export interface PhasesInput {
  id: string;
  lib: string;
  kind: string;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export const jobMachine = setup({
  types: {} as { context: JobContext; events: JobEvent; input: JobInput },
  actors: {
    /**
     * Runs the job's phases; reports PROGRESS, then PHASES_DONE or PHASES_FAILED. ABORT asks it
     * to stop at its next batch; stopping the actor aborts it as well.
     */
    phases: fromCallback<{ type: 'ABORT' }, PhasesInput>(() => () => undefined),
  },
  actions: {
    /** Saves the job's state (and publishes it on the bus). */
    persist: (_, _params: { state: JobState }) => undefined,
    /** Counts a resume (from a checkpoint) in the store. */
    countResume: () => undefined,
    /** Progress goes to the bus (the phases throttle it to 10 a second). */
    announce: () => undefined,
    /** Tells the manager the job's state: it keeps the queue and the slots. */
    tellManager: sendParent(({ context }: { context: JobContext }, params: { state: JobState }) => ({
      type: 'JOB_STATE' as const,
      id: context.id,
      state: params.state,
    })),
    /** A full disk paused the job: reported to the disk monitor (`sd status`). */
    diskFull: (_, _params: { error: unknown }) => undefined,
    abort: sendTo('phases', { type: 'ABORT' as const }),
  },
  guards: {
    /** Paused by the user (not by a shutdown or a full disk): it stays paused. */
    stayedPaused: ({ context: c }) =>
      c.stored?.state === 'paused' && c.stored.pausedBy !== 'shutdown' && c.stored.pausedBy !== 'disk-full',
    wasFailed: ({ context: c }) => c.stored?.state === 'failed',
    /** Left running by a crash, or paused by a shutdown or a full disk: it goes on from its checkpoint. */
    wasInterrupted: ({ context: c }) => c.stored?.state === 'running' || c.stored?.state === 'paused',
    stopForCancel: ({ context }) => context.stopFor === 'cancel',
    stopping: ({ context }) => context.stopFor !== null,
    outOfSpace: ({ context, event }) =>
      event.type === 'PHASES_FAILED' && context.stopFor === null && isDiskFull(event.error),
    pausedForSpace: ({ context }) => context.pausedBy === 'disk-full',
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({
    ...input,
    stopFor: null,
    pausedBy: input.stored?.pausedBy ?? null,
    message: input.stored?.message ?? null,
    progress: null,
  }),
  initial: 'restoring',
  states: {
    /** Transient: a new job is queued; a stored one goes back where it belongs. */
    restoring: {
      always: [
        { guard: 'stayedPaused', target: 'paused' },
        { guard: 'wasFailed', target: 'failed' },
        {
          guard: 'wasInterrupted',
          target: 'queued',
          actions: ['countResume', assign({ pausedBy: null, message: null })],
        },
        { target: 'queued' },
      ],
    },
    queued: {
      entry: [
        { type: 'persist', params: { state: 'queued' } },
        { type: 'tellManager', params: { state: 'queued' } },
      ],
      on: {
        START: 'running',
        PAUSE: { target: 'paused', actions: assign({ pausedBy: 'user' }) },
        CANCEL: 'cancelled',
      },
    },
    running: {
      // stopFor is cleared on the way in: exit actions run before a transition's own, which read it.
      entry: [
        assign({ stopFor: null }),
        { type: 'persist', params: { state: 'running' } },
        { type: 'tellManager', params: { state: 'running' } },
      ],
      invoke: {
        id: 'phases',
        src: 'phases',
        input: ({ context }) => ({ id: context.id, lib: context.lib, kind: context.kind }),
      },
      initial: 'working',
      states: {
        working: {
          on: {
            PAUSE: { target: 'stopping', actions: assign({ stopFor: 'user' }) },
            CANCEL: { target: 'stopping', actions: assign({ stopFor: 'cancel' }) },
            SHUTDOWN: { target: 'stopping', actions: assign({ stopFor: 'shutdown' }) },
          },
        },
        /** The run was asked to stop; it ends at its next batch (its checkpoint committed). */
        stopping: {
          entry: 'abort',
          on: { CANCEL: { actions: assign({ stopFor: 'cancel' }) } },
        },
      },
      on: {
        PROGRESS: {
          actions: [
            assign({
              progress: ({ event }) => ({ phase: event.phase, done: event.done, total: event.total, rate: event.rate }),
            }),
            'announce',
          ],
        },
        PHASES_DONE: [
          { guard: 'stopForCancel', target: 'cancelled' },
          {
            guard: 'stopping',
            target: 'paused',
            actions: assign({ pausedBy: ({ context }) => (context.stopFor === 'shutdown' ? 'shutdown' : 'user') }),
          },
          { target: 'completed' },
        ],
        PHASES_FAILED: [
          // A full disk pauses the job at its last committed batch; it resumes when space returns.
          {
            guard: 'outOfSpace',
            target: 'paused',
            actions: [
              assign({ pausedBy: 'disk-full', message: 'the disk is full; resumes when space returns' }),
              { type: 'diskFull', params: ({ event }) => ({ error: (event as { error: unknown }).error }) },
            ],
          },
          // A run stopped from outside (its threads closed at shutdown) is paused or cancelled, not failed.
          { guard: 'stopForCancel', target: 'cancelled' },
          {
            guard: 'stopping',
            target: 'paused',
            actions: assign({ pausedBy: ({ context }) => (context.stopFor === 'shutdown' ? 'shutdown' : 'user') }),
          },
          { target: 'failed', actions: assign({ message: ({ event }) => messageOf(event.error) }) },
        ],
      },
    },
    paused: {
      entry: [
        { type: 'persist', params: { state: 'paused' } },
        { type: 'tellManager', params: { state: 'paused' } },
      ],
      on: {
        RESUME: { target: 'queued', actions: ['countResume', assign({ pausedBy: null, message: null })] },
        SPACE: {
          guard: 'pausedForSpace',
          target: 'queued',
          actions: ['countResume', assign({ pausedBy: null, message: null })],
        },
        CANCEL: 'cancelled',
      },
    },
    completed: {
      type: 'final',
      entry: [
        { type: 'persist', params: { state: 'completed' } },
        { type: 'tellManager', params: { state: 'completed' } },
      ],
    },
    /** Not final: `sd job resume` tries it again from its checkpoint. */
    failed: {
      entry: [
        { type: 'persist', params: { state: 'failed' } },
        { type: 'tellManager', params: { state: 'failed' } },
      ],
      on: { RESUME: { target: 'queued', actions: ['countResume', assign({ message: null })] } },
    },
    cancelled: {
      type: 'final',
      entry: [
        { type: 'persist', params: { state: 'cancelled' } },
        { type: 'tellManager', params: { state: 'cancelled' } },
      ],
    },
  },
});

export type JobActor = AnyActorRef;

/** The state a user sees: the top-level state, with `pausing`/`cancelling` while a run stops. */
export function jobStateOf(snap: { value: unknown; context: JobContext }): { state: JobState; stopping?: StopReason } {
  const v = snap.value;
  if (typeof v === 'string') return { state: v as JobState };
  return { state: 'running', ...(snap.context.stopFor ? { stopping: snap.context.stopFor } : {}) };
}
