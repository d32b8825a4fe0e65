// NetworkService: offline until the daemon listens for peers; then it owns the listener and the
// discovery (mDNS), and one peer actor per known device. Addresses reach it from the address book,
// from discovery and from members (ADDRESS); links that came in, or that pairing and `peer add`
// made, are handed to the device's actor (INBOUND); each actor reports its best link (LINK_UP,
// LINK_DOWN), which goes on to SyncService.
import { assign, enqueueActions, fromCallback, setup, type AnyActorRef } from 'xstate';
import type { PeerLink } from '../../transport/types.js';
import type { RtcSignal } from '../../transport/webrtc.js';
import { peerMachine, type PeerAddr, type PeerEvent, type RvPurpose } from './peer.js';

export interface NetworkInput {
  self: string;
  webrtc: boolean;
  /** Devices no address reaches are called through members (WebRTC signalled through them). */
  rendezvous?: boolean;
}

export interface NetworkContext extends NetworkInput {
  rendezvous: boolean;
  port: number | null;
  host: string | null;
  lastError: { code: string; message: string } | null;
  /** Device id -> its actor's id. */
  peers: Map<string, string>;
  paused: boolean;
}

export type NetworkEvent =
  | { type: 'START'; host: string; port: number; webrtc: boolean; rendezvous?: boolean }
  | { type: 'LISTENING'; port: number }
  | { type: 'LISTEN_FAILED'; code: string; message: string }
  | { type: 'ADDRESS'; dev: string; address: PeerAddr }
  | { type: 'FORGET'; dev: string; address?: PeerAddr }
  | { type: 'INBOUND'; link: PeerLink; outbound?: boolean; address?: PeerAddr }
  | { type: 'LINK_UP'; peer: string; link: PeerLink }
  | { type: 'LINK_DOWN'; peer: string }
  | { type: 'REVOKED'; dev: string }
  /** A member links (or no longer links) to `dev`: it can forward our signalling there. */
  | { type: 'RELAY'; dev: string; via: string; up: boolean }
  /** Signalling from `dev`, opened after crossing member `via`. */
  | { type: 'SIGNAL'; dev: string; via: string; sid: string; purpose: RvPurpose; signal: RtcSignal }
  /** `sd peer add DEVICE_ID`: link to that member now, through the members if no address reaches it. */
  | { type: 'CALL'; dev: string }
  /** A member handed us other STUN/TURN servers: a call that failed for want of them is tried again. */
  | { type: 'ICE_CHANGED' }
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'STOP' };

export const peerId = (dev: string): string => `peer:${dev}`;

export const networkMachine = setup({
  types: {} as { context: NetworkContext; events: NetworkEvent; input: NetworkInput },
  actors: {
    peer: peerMachine,
    /** Listens for links; sends LISTENING or LISTEN_FAILED, then INBOUND for each member link. */
    listener: fromCallback<NetworkEvent, { host: string; port: number }>(() => () => undefined),
    /** Finds members on the LAN; sends ADDRESS. */
    discovery: fromCallback<NetworkEvent, { port: number }>(() => () => undefined),
  },
  actions: {
    /** LINK_UP and LINK_DOWN go on to SyncService. */
    toSync: (_, _params: { type: 'LINK_UP'; peer: string; link: PeerLink } | { type: 'LINK_DOWN'; peer: string }) =>
      undefined,
    /** A link for no device we could hold an actor for (ourselves): closed. */
    refuse: () => undefined,
  },
}).createMachine({
  id: 'NetworkService',
  context: ({ input }) => ({
    ...input,
    rendezvous: input.rendezvous ?? false,
    port: null,
    host: null,
    lastError: null,
    peers: new Map(),
    paused: false,
  }),
  initial: 'offline',
  states: {
    offline: {
      on: {
        START: {
          target: 'listening',
          actions: assign(({ event }) => ({
            host: event.host,
            port: event.port,
            webrtc: event.webrtc,
            rendezvous: event.rendezvous ?? false,
            lastError: null,
          })),
        },
      },
    },
    listening: {
      invoke: {
        id: 'listener',
        src: 'listener',
        input: ({ context }) => ({ host: context.host!, port: context.port! }),
      },
      on: {
        LISTEN_FAILED: {
          target: 'offline',
          actions: assign(({ event }) => ({ lastError: { code: event.code, message: event.message }, port: null })),
        },
      },
      initial: 'opening',
      states: {
        opening: { on: { LISTENING: { target: 'open', actions: assign({ port: ({ event }) => event.port }) } } },
        open: { invoke: { id: 'discovery', src: 'discovery', input: ({ context }) => ({ port: context.port! }) } },
      },
    },
    stopped: { type: 'final' },
  },
  on: {
    STOP: {
      target: '.stopped',
      actions: enqueueActions(({ context, enqueue }) => {
        for (const id of context.peers.values()) enqueue.sendTo(id, { type: 'STOP' } satisfies PeerEvent);
      }),
    },
    ADDRESS: {
      guard: ({ context, event }) => event.dev !== context.self,
      actions: enqueueActions(({ context, event, enqueue }) => {
        const id = context.peers.get(event.dev);
        if (id) return enqueue.sendTo(id, { type: 'ADDRESS', address: event.address } satisfies PeerEvent);
        const child = peerId(event.dev);
        enqueue.spawnChild('peer', {
          id: child,
          input: {
            dev: event.dev,
            self: context.self,
            addresses: [event.address],
            webrtc: context.webrtc,
            rendezvous: context.rendezvous,
          },
        });
        enqueue.assign({ peers: new Map(context.peers).set(event.dev, child) });
        if (context.paused) enqueue.sendTo(child, { type: 'PAUSE' } satisfies PeerEvent);
      }),
    },
    FORGET: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const id = context.peers.get(event.dev);
        if (!id) return;
        if (event.address) return enqueue.sendTo(id, { type: 'FORGET', address: event.address } satisfies PeerEvent);
        enqueue.stopChild(id);
        const peers = new Map(context.peers);
        peers.delete(event.dev);
        enqueue.assign({ peers });
        enqueue({ type: 'toSync', params: { type: 'LINK_DOWN', peer: event.dev } });
      }),
    },
    INBOUND: [
      { guard: ({ context, event }) => event.link.peerId === context.self, actions: 'refuse' },
      {
        actions: enqueueActions(({ context, event, enqueue }) => {
          const dev = event.link.peerId;
          let id = context.peers.get(dev);
          if (!id) {
            id = peerId(dev);
            enqueue.spawnChild('peer', {
              id,
              input: { dev, self: context.self, addresses: [], webrtc: context.webrtc, rendezvous: context.rendezvous },
            });
            enqueue.assign({ peers: new Map(context.peers).set(dev, id) });
          }
          enqueue.sendTo(id, {
            type: 'INBOUND',
            link: event.link,
            outbound: event.outbound,
            address: event.address,
          } satisfies PeerEvent);
        }),
      },
    ],
    // To the device's actor, made if need be (a member we only know through other members).
    RELAY: {
      guard: ({ context, event }) => event.dev !== context.self,
      actions: enqueueActions(({ context, event, enqueue }) => {
        let id = context.peers.get(event.dev);
        if (!id) {
          if (!event.up) return;
          id = peerId(event.dev);
          enqueue.spawnChild('peer', {
            id,
            input: {
              dev: event.dev,
              self: context.self,
              addresses: [],
              webrtc: context.webrtc,
              rendezvous: context.rendezvous,
              relays: [event.via],
            },
          });
          enqueue.assign({ peers: new Map(context.peers).set(event.dev, id) });
          if (context.paused) enqueue.sendTo(id, { type: 'PAUSE' } satisfies PeerEvent);
          return;
        }
        enqueue.sendTo(id, { type: 'RELAY', via: event.via, up: event.up } satisfies PeerEvent);
      }),
    },
    SIGNAL: {
      guard: ({ context, event }) => event.dev !== context.self,
      actions: enqueueActions(({ context, event, enqueue }) => {
        let id = context.peers.get(event.dev);
        if (!id) {
          id = peerId(event.dev);
          enqueue.spawnChild('peer', {
            id,
            input: {
              dev: event.dev,
              self: context.self,
              addresses: [],
              webrtc: context.webrtc,
              rendezvous: context.rendezvous,
            },
          });
          enqueue.assign({ peers: new Map(context.peers).set(event.dev, id) });
          if (context.paused) enqueue.sendTo(id, { type: 'PAUSE' } satisfies PeerEvent);
        }
        const { dev: _dev, ...signal } = event;
        enqueue.sendTo(id, signal satisfies PeerEvent);
      }),
    },
    CALL: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const id = context.peers.get(event.dev);
        if (id) enqueue.sendTo(id, { type: 'CALL' } satisfies PeerEvent);
      }),
    },
    ICE_CHANGED: {
      actions: enqueueActions(({ context, enqueue }) => {
        for (const id of context.peers.values()) enqueue.sendTo(id, { type: 'ICE_CHANGED' } satisfies PeerEvent);
      }),
    },
    LINK_UP: {
      actions: { type: 'toSync', params: ({ event }) => ({ type: 'LINK_UP', peer: event.peer, link: event.link }) },
    },
    LINK_DOWN: { actions: { type: 'toSync', params: ({ event }) => ({ type: 'LINK_DOWN', peer: event.peer }) } },
    REVOKED: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const id = context.peers.get(event.dev);
        if (id) enqueue.sendTo(id, { type: 'REVOKED' } satisfies PeerEvent);
      }),
    },
    PAUSE: {
      actions: enqueueActions(({ context, enqueue }) => {
        for (const id of context.peers.values()) enqueue.sendTo(id, { type: 'PAUSE' } satisfies PeerEvent);
        enqueue.assign({ paused: true });
      }),
    },
    RESUME: {
      actions: enqueueActions(({ context, enqueue }) => {
        for (const id of context.peers.values()) enqueue.sendTo(id, { type: 'RESUME' } satisfies PeerEvent);
        enqueue.assign({ paused: false });
      }),
    },
  },
});

export type NetworkActor = AnyActorRef;
