// One known device, as NetworkService sees it: idle → dialing → handshaking → linked (ws, then
// webrtc if both sides want it) → backoff → … → revoked. A device no address reaches is called
// through a member that links to both (calling, or answering its call): WebRTC offers and ICE
// candidates cross that member sealed for the far device, and the link is direct when the NATs
// allow it, relayed through TURN otherwise (linked.direct, linked.relayed); a relayed link keeps
// looking for a direct path and moves onto it without a gap. Every effect (connecting, the
// handshake, watching a link, the WebRTC upgrade, the rendezvous) is a named actor supplied by the
// service, so the machine reads as the diagram above and a test can replace each one; backoff,
// deadlines and probes are `after` transitions on XState's clock.
import { and, assign, type AnyActorRef } from 'xstate';

export * from './peer-types.js';
import { errorOf } from './peer-types.js';
import { peerSetup } from './peer-setup.js';
import { answering, calling, relayed } from './peer-rendezvous.js';

export const peerMachine = peerSetup.createMachine({
  id: 'peer',
  context: ({ input }) => ({
    ...input,
    attempts: 0,
    lastError: null,
    link: null,
    rtc: null,
    transport: null,
    outbound: false,
    next: 0,
    rendezvous: input.rendezvous ?? false,
    relays: input.relays ?? [],
    sid: null,
    via: null,
    offer: null,
    lastTry: null,
    rvSeq: 0,
  }),
  initial: 'idle',
  on: {
    REVOKED: '.revoked',
    STOP: '.stopped',
    ADDRESS: {
      guard: ({ context, event }) =>
        !context.addresses.some((a) => a.host === event.address.host && a.port === event.address.port),
      actions: assign({ addresses: ({ context, event }) => [...context.addresses, event.address] }),
    },
    FORGET: {
      actions: assign({
        addresses: ({ context, event }) =>
          context.addresses.filter((a) => !(a.host === event.address.host && a.port === event.address.port)),
      }),
    },
    RELAY: { actions: 'addRelay' },
    // A rendezvous that finished after its state was left: its link is nobody's.
    RV_UP: { actions: 'closeStray' },
  },
  states: {
    idle: {
      always: [
        { guard: 'hasAddress', target: 'dialing' },
        { guard: 'canCall', target: 'calling' },
      ],
      on: {
        INBOUND: { target: 'linked', actions: 'adopt' },
        SIGNAL: { guard: 'isOffer', target: 'answering', actions: 'takeOffer' },
        PAUSE: 'paused',
      },
    },
    dialing: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1, lastTry: 'dial' }),
      invoke: {
        id: 'connect',
        src: 'connect',
        // Every address, the one to try first in front (the others follow it, staggered).
        input: ({ context }) => {
          const first = context.next % context.addresses.length;
          return { addresses: [...context.addresses.slice(first), ...context.addresses.slice(0, first)] };
        },
        onDone: { target: 'handshaking', actions: assign({ transport: ({ event }) => event.output }) },
        onError: {
          target: 'backoff',
          actions: ['nextAddress', assign({ lastError: ({ event }) => errorOf(event.error) })],
        },
      },
      after: {
        dialDeadline: {
          target: 'backoff',
          actions: ['nextAddress', assign({ lastError: { code: 'E_DIAL_TIMEOUT', message: 'no answer in time' } })],
        },
      },
      on: {
        INBOUND: [{ guard: 'incomingWins', target: 'linked', actions: 'adopt' }, { actions: 'closeIncoming' }],
        SIGNAL: { guard: 'isOffer', target: 'answering', actions: 'takeOffer' },
        PAUSE: 'paused',
      },
    },
    handshaking: {
      invoke: {
        id: 'handshake',
        src: 'handshake',
        input: ({ context }) => ({ transport: context.transport!, dev: context.dev }),
        onDone: {
          target: 'linked',
          actions: assign({ link: ({ event }) => event.output, outbound: true, transport: null }),
        },
        onError: {
          target: 'backoff',
          actions: ['nextAddress', assign({ lastError: ({ event }) => errorOf(event.error), transport: null })],
        },
      },
      after: {
        dialDeadline: {
          target: 'backoff',
          actions: [
            'nextAddress',
            assign({ lastError: { code: 'E_HANDSHAKE_TIMEOUT', message: 'the handshake did not finish in time' } }),
          ],
        },
      },
      on: {
        INBOUND: [{ guard: 'incomingWins', target: 'linked', actions: 'adopt' }, { actions: 'closeIncoming' }],
        SIGNAL: { guard: 'isOffer', target: 'answering', actions: 'takeOffer' },
        PAUSE: 'paused',
      },
    },
    // Through a member (peer-rendezvous.ts): we offer (calling), or the device did (answering).
    calling,
    answering,
    linked: {
      entry: [assign({ attempts: 0, lastError: null, next: 0 }), 'linkUp'],
      exit: ['closeLink', 'linkDown', assign({ link: null, rtc: null })],
      invoke: [
        { id: 'watch', src: 'watch', input: ({ context }) => ({ link: context.link! }) },
        // For the whole life of the link: it may bring a WebRTC link up, and take it down again.
        { id: 'webrtc', src: 'upgrade', input: ({ context }) => ({ link: context.link!, offerer: context.outbound }) },
      ],
      on: {
        LINK_CLOSED: {
          guard: 'isCurrentLink',
          target: 'backoff',
          actions: assign({ lastError: ({ event }) => ({ code: event.code, message: event.message }) }),
        },
        INBOUND: [
          {
            // A second link while one is up: the same rule on both sides keeps one of them.
            guard: 'keepIncoming',
            target: 'linked',
            reenter: true,
            // Leaving closes the current link; then the incoming one is the link.
            actions: 'adopt',
          },
          { actions: 'closeIncoming' },
        ],
        PAUSE: 'paused',
      },
      initial: 'ws',
      states: {
        ws: {
          on: {
            RTC_UP: {
              guard: 'wantsWebRtc',
              target: 'webrtc',
              actions: [assign({ rtc: ({ event }) => event.link }), 'linkUp'],
            },
          },
        },
        webrtc: {
          on: {
            RTC_DOWN: { guard: 'isCurrentLink', target: 'ws', actions: [assign({ rtc: null }), 'linkUp'] },
          },
        },
        /** A WebRTC link found through a member, direct (host or server-reflexive candidates). */
        direct: {},
        /** A WebRTC link through a TURN relay, probing for a direct path (peer-rendezvous.ts). */
        relayed,
      },
    },
    backoff: {
      after: {
        backoff: [
          { guard: 'dialNext', target: 'dialing' },
          { guard: 'canCall', target: 'calling' },
          { target: 'idle' },
        ],
      },
      on: {
        INBOUND: { target: 'linked', actions: 'adopt' },
        SIGNAL: { guard: 'isOffer', target: 'answering', actions: 'takeOffer' },
        CALL: [
          { guard: 'canCall', target: 'calling', actions: assign({ attempts: 0 }) },
          { guard: 'hasAddress', target: 'dialing', actions: assign({ attempts: 0 }) },
        ],
        // A member says it reaches the device again (it came back): tried now, not after the backoff.
        RELAY: [
          { guard: and(['relayUp', 'hasAddress']), target: 'dialing', actions: ['addRelay', assign({ attempts: 0 })] },
          {
            guard: and(['relayUp', 'canCallAfterRelay']),
            target: 'calling',
            actions: ['addRelay', assign({ attempts: 0 })],
          },
          { actions: 'addRelay' },
        ],
        // New STUN/TURN servers: the call that failed without them is tried now, not after the backoff.
        ICE_CHANGED: { guard: 'canCall', target: 'calling', actions: assign({ attempts: 0 }) },
        ADDRESS: {
          target: 'dialing',
          actions: assign({
            addresses: ({ context, event }) =>
              context.addresses.some((a) => a.host === event.address.host && a.port === event.address.port)
                ? context.addresses
                : [...context.addresses, event.address],
            attempts: 0,
          }),
        },
        PAUSE: 'paused',
      },
    },
    /** Links cut on purpose (a partition in tests): nothing dials, inbound links are refused. */
    paused: {
      // Back from a pause, the device is dialed (or called) at once, as after a start: no backoff to sit out.
      on: { RESUME: { target: 'idle', actions: assign({ attempts: 0 }) }, INBOUND: { actions: 'closeIncoming' } },
    },
    revoked: { type: 'final', entry: 'closeLink' },
    stopped: { type: 'final' },
  },
});

export type PeerActor = AnyActorRef;
