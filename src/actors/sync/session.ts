// One (peer, library) replication session, as SyncService sees it: announcing (our heads sent,
// theirs awaited) → catching up (one side lacks events the other holds) → live (level; new events
// flow as they are committed). The feed protocol itself is the `feed` actor; the log's committed
// events reach it through this machine (COMMITTED), which is how a session reacts to appends.
import { assign, fromCallback, sendTo, setup } from 'xstate';

/** What the feed reports of itself: how far each side is, and its counters. */
export interface SessionBalance {
  behind: number;
  ahead: number;
  received: number;
  sent: number;
  lastError: string | null;
  /** Per device feed: our head and theirs, as far as we know. */
  feeds: { dev: string; ours: number; theirs: number }[];
}

export interface SessionInput {
  peer: string;
  lib: string;
  /** The link the session runs on (the service supplies it; the feed actor uses it). */
  link: unknown;
}

export interface SessionContext extends SessionInput, SessionBalance {
  /** Protocol refusals by code, as the feed reported them. */
  refused: Record<string, number>;
}

export type SessionEvent =
  | { type: 'COMMITTED'; dev: string; seq: number; evType: string }
  | { type: 'COMMITTED_GROUP'; events: { dev: string; seq: number; evType: string }[] }
  | ({ type: 'HEADS' } & SessionBalance)
  | ({ type: 'PROGRESS' } & SessionBalance)
  | { type: 'REFUSED'; code: string; message: string }
  | { type: 'CLOSE' };

export const sessionMachine = setup({
  types: {} as { context: SessionContext; events: SessionEvent; input: SessionInput },
  actors: {
    /** Runs the feed protocol on the link's channel for this library; reports HEADS, PROGRESS, REFUSED. */
    feed: fromCallback<SessionEvent, SessionInput>(() => () => undefined),
  },
  actions: {
    /** Tells the parent about a refusal (it may close the link). */
    reportRefusal: () => undefined,
    balance: assign(({ event }) => {
      if (event.type !== 'HEADS' && event.type !== 'PROGRESS') return {};
      const { type: _t, ...b } = event;
      return b;
    }),
  },
  guards: {
    level: ({ event }) =>
      (event.type === 'HEADS' || event.type === 'PROGRESS') && event.behind === 0 && event.ahead === 0,
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    ...input,
    behind: 0,
    ahead: 0,
    received: 0,
    sent: 0,
    lastError: null,
    feeds: [],
    refused: {},
  }),
  invoke: {
    id: 'feed',
    src: 'feed',
    input: ({ context }) => ({ peer: context.peer, lib: context.lib, link: context.link }),
  },
  initial: 'announcing',
  on: {
    COMMITTED: { actions: sendTo('feed', ({ event }) => event) },
    COMMITTED_GROUP: { actions: sendTo('feed', ({ event }) => event) },
    REFUSED: {
      actions: [
        assign({
          refused: ({ context, event }) => ({
            ...context.refused,
            [event.code]: (context.refused[event.code] ?? 0) + 1,
          }),
        }),
        'reportRefusal',
      ],
    },
    CLOSE: '.closed',
  },
  states: {
    announcing: {
      on: {
        HEADS: [
          { guard: 'level', target: 'live', actions: 'balance' },
          { target: 'catchingUp', actions: 'balance' },
        ],
      },
    },
    catchingUp: {
      on: {
        PROGRESS: [{ guard: 'level', target: 'live', actions: 'balance' }, { actions: 'balance' }],
        HEADS: [{ guard: 'level', target: 'live', actions: 'balance' }, { actions: 'balance' }],
      },
    },
    live: {
      on: {
        PROGRESS: [
          { guard: 'level', actions: 'balance' },
          { target: 'catchingUp', actions: 'balance' },
        ],
        HEADS: [
          { guard: 'level', actions: 'balance' },
          { target: 'catchingUp', actions: 'balance' },
        ],
      },
    },
    closed: { type: 'final' },
  },
});
