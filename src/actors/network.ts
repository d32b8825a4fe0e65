// NetworkService: the peer listener and discovery. Without a p2p port it stays offline.
import { setup } from 'xstate';

export const networkMachine = setup({
  types: {} as {
    context: { port: number | null; links: number };
    events: { type: 'LISTENING'; port: number } | { type: 'LINKS'; links: number } | { type: 'STOP' };
  },
}).createMachine({
  id: 'NetworkService',
  initial: 'offline',
  context: { port: null, links: 0 },
  states: {
    offline: {
      on: {
        LISTENING: { target: 'listening', actions: ({ context, event }) => void (context.port = event.port) },
        STOP: 'stopped',
      },
    },
    listening: {
      on: {
        LINKS: [
          {
            guard: ({ event }) => event.links > 0,
            target: 'connected',
            actions: ({ context, event }) => void (context.links = event.links),
          },
          { actions: ({ context, event }) => void (context.links = event.links) },
        ],
        STOP: 'stopped',
      },
    },
    connected: {
      on: {
        LINKS: [
          {
            guard: ({ event }) => event.links === 0,
            target: 'listening',
            actions: ({ context }) => void (context.links = 0),
          },
          { actions: ({ context, event }) => void (context.links = event.links) },
        ],
        STOP: 'stopped',
      },
    },
    stopped: { type: 'final' },
  },
});
