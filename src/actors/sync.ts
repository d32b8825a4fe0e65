// SyncService: replication with paired devices. With no peer it is idle.
import { setup } from 'xstate';

export const syncMachine = setup({
  types: {} as { context: { peers: number }; events: { type: 'PEERS'; peers: number } | { type: 'STOP' } },
}).createMachine({
  id: 'SyncService',
  initial: 'idle',
  context: { peers: 0 },
  states: {
    idle: {
      on: {
        PEERS: {
          guard: ({ event }) => event.peers > 0,
          target: 'syncing',
          actions: ({ context, event }) => void (context.peers = event.peers),
        },
        STOP: 'stopped',
      },
    },
    syncing: {
      on: {
        PEERS: {
          guard: ({ event }) => event.peers === 0,
          target: 'idle',
          actions: ({ context }) => void (context.peers = 0),
        },
        STOP: 'stopped',
      },
    },
    stopped: { type: 'final' },
  },
});
