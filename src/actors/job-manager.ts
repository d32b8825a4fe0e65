// JobManager: runs the library's background jobs. Its state is what `sd status` shows.
import { setup } from 'xstate';

export const jobManagerMachine = setup({
  types: {} as {
    context: { running: number; queued: number };
    events: { type: 'JOBS_CHANGED'; running: number; queued: number } | { type: 'PAUSE_ALL' } | { type: 'STOP' };
  },
}).createMachine({
  id: 'JobManager',
  initial: 'idle',
  context: { running: 0, queued: 0 },
  states: {
    idle: {
      on: {
        JOBS_CHANGED: [
          {
            guard: ({ event }) => event.running + event.queued > 0,
            target: 'working',
            actions: ({ context, event }) => Object.assign(context, event),
          },
        ],
        STOP: 'stopped',
      },
    },
    working: {
      on: {
        JOBS_CHANGED: [
          {
            guard: ({ event }) => event.running + event.queued === 0,
            target: 'idle',
            actions: ({ context, event }) => Object.assign(context, event),
          },
          { actions: ({ context, event }) => Object.assign(context, event) },
        ],
        STOP: 'stopped',
      },
    },
    stopped: { type: 'final' },
  },
});
