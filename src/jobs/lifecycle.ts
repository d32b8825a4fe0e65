// The state machine every job follows; the JobManager persists its state in SQLite and only
// moves a job along a transition this machine allows.
import { setup, transition } from 'xstate';
import { SdError } from '../errors.js';

export type JobState = 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export type JobEvent =
  | { type: 'START' }
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'CANCEL' }
  | { type: 'COMPLETE' }
  | { type: 'FAIL' }
  | { type: 'INTERRUPTED' };

export const jobMachine = setup({ types: {} as { events: JobEvent } }).createMachine({
  id: 'job',
  initial: 'queued',
  states: {
    queued: { on: { START: 'running', PAUSE: 'paused', CANCEL: 'cancelled' } },
    running: {
      on: { PAUSE: 'paused', CANCEL: 'cancelled', COMPLETE: 'completed', FAIL: 'failed', INTERRUPTED: 'queued' },
    },
    paused: { on: { RESUME: 'queued', CANCEL: 'cancelled' } },
    completed: { type: 'final' },
    failed: { on: { RESUME: 'queued' } },
    cancelled: { type: 'final' },
  },
});

export function nextJobState(from: JobState, event: JobEvent['type']): JobState {
  const snap = jobMachine.resolveState({ value: from, context: undefined as never });
  const [next] = transition(jobMachine, snap, { type: event } as JobEvent);
  const to = String(next.value) as JobState;
  if (to === from) throw new SdError('E_JOB_STATE', `a ${from} job cannot be ${verb(event)}`);
  return to;
}

function verb(e: JobEvent['type']): string {
  return {
    START: 'started',
    PAUSE: 'paused',
    RESUME: 'resumed',
    CANCEL: 'cancelled',
    COMPLETE: 'completed',
    FAIL: 'failed',
    INTERRUPTED: 'interrupted',
  }[e];
}
