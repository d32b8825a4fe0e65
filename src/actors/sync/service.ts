// SyncService: one session actor per (linked peer, library both are members of). It hears from
// NetworkService which link is each peer's best (LINK_UP, LINK_DOWN) and from the log what was
// committed (COMMITTED): events go to the sessions of their library; a device joining the roster
// starts sessions, a revocation stops them and tells NetworkService.
import { enqueueActions, setup } from 'xstate';
import { sessionMachine } from './session.js';

export type SyncEvent =
  | { type: 'LINK_UP'; peer: string; link: unknown }
  | { type: 'LINK_DOWN'; peer: string }
  | { type: 'START_SESSIONS'; peer: string }
  | { type: 'COMMITTED'; lib: string; dev: string; seq: number; evType: string; body: unknown }
  | { type: 'COMMITTED_GROUP'; lib: string; events: Committed[] }
  | { type: 'STOP' };

/** One committed event, as the services hear of it. */
export interface Committed {
  dev: string;
  seq: number;
  evType: string;
  body: unknown;
}

export interface SyncInput {
  /** The ids of the libraries open on this device (sessions may run for any of them). */
  libraries: () => string[];
}

export interface SyncContext extends SyncInput {
  /** Each linked peer's current best link. */
  links: Map<string, unknown>;
  /** `peer lib` -> the id of its session actor (ids are numbered: a new link gets new sessions). */
  sessions: Map<string, string>;
  made: number;
}

const keyOf = (peer: string, lib: string): string => `${peer} ${lib}`;

export const syncServiceMachine = setup({
  types: {} as { context: SyncContext; events: SyncEvent; input: SyncInput },
  actors: { session: sessionMachine },
  actions: {
    /** Tells NetworkService a peer was revoked in a library (it drops the peer if no library keeps it). */
    revoked: (_, _params: { peer: string; lib: string }) => undefined,
  },
  guards: {
    /** Whether `peer` is a member (on the roster or a pairing trust anchor) of `lib` and not revoked. */
    member: (_, _params: { peer: string; lib: string }) => false,
  },
  delays: {},
}).createMachine({
  id: 'SyncService',
  context: ({ input }) => ({ ...input, links: new Map(), sessions: new Map(), made: 0 }),
  initial: 'idle',
  states: {
    idle: { always: { guard: ({ context }) => context.links.size > 0, target: 'syncing' } },
    syncing: { always: { guard: ({ context }) => context.links.size === 0, target: 'idle' } },
    stopped: { type: 'final' },
  },
  on: {
    STOP: '.stopped',
    LINK_UP: {
      // Sessions on the previous link of this peer end; sessions on this link start.
      actions: enqueueActions(({ context, event, enqueue }) => {
        const sessions = new Map(context.sessions);
        for (const [key, id] of context.sessions)
          if (key.startsWith(`${event.peer} `)) {
            enqueue.stopChild(id);
            sessions.delete(key);
          }
        enqueue.assign({ links: new Map(context.links).set(event.peer, event.link), sessions });
        enqueue.raise({ type: 'START_SESSIONS', peer: event.peer });
      }),
    },
    START_SESSIONS: {
      actions: enqueueActions(({ context, event, enqueue, check }) => {
        const { peer } = event;
        const link = context.links.get(peer);
        if (link === undefined) return;
        const sessions = new Map(context.sessions);
        let made = context.made;
        for (const lib of context.libraries())
          if (!sessions.has(keyOf(peer, lib)) && check({ type: 'member', params: { peer, lib } })) {
            const id = `session:${peer}:${lib}:${++made}`;
            enqueue.spawnChild('session', { id, input: { peer, lib, link } });
            sessions.set(keyOf(peer, lib), id);
          }
        enqueue.assign({ sessions, made });
      }),
    },
    LINK_DOWN: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const sessions = new Map(context.sessions);
        for (const [key, id] of context.sessions)
          if (key.startsWith(`${event.peer} `)) {
            enqueue.stopChild(id);
            sessions.delete(key);
          }
        const links = new Map(context.links);
        links.delete(event.peer);
        enqueue.assign({ links, sessions });
      }),
    },
    // One event is a group of one.
    COMMITTED: {
      actions: enqueueActions(({ event, enqueue }) => {
        const { type: _t, lib, ...one } = event;
        enqueue.raise({ type: 'COMMITTED_GROUP', lib, events: [one] });
      }),
    },
    // Committed events: announced on every session of their library, one message a group; a device
    // joining the roster starts sessions; a revocation stops the revoked peer's session there.
    COMMITTED_GROUP: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const { lib, events } = event;
        const announced = events.map(({ dev, seq, evType }) => ({ dev, seq, evType }));
        for (const [key, id] of context.sessions)
          if (key.endsWith(` ${lib}`)) enqueue.sendTo(id, { type: 'COMMITTED_GROUP', events: announced });
        if (events.some((e) => ['device.added', 'device.role', 'library.created'].includes(e.evType)))
          for (const peer of context.links.keys()) enqueue.raise({ type: 'START_SESSIONS', peer });
        let sessions = context.sessions;
        for (const e of events) {
          if (e.evType !== 'device.revoked') continue;
          const target = (e.body as { dev?: unknown } | undefined)?.dev;
          if (typeof target !== 'string') continue;
          const id = sessions.get(keyOf(target, lib));
          if (id) {
            enqueue.stopChild(id);
            sessions = new Map(sessions);
            sessions.delete(keyOf(target, lib));
          }
          enqueue({ type: 'revoked', params: { peer: target, lib } });
        }
        if (sessions !== context.sessions) enqueue.assign({ sessions });
      }),
    },
  },
});
