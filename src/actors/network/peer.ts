// One known device, as NetworkService sees it: idle → dialing → handshaking → linked (ws, then
// webrtc if both sides want it) → backoff → … → revoked. A device no address reaches is called
// through a member that links to both (calling, or answering its call): WebRTC offers and ICE
// candidates cross that member sealed for the far device, and the link is direct when the NATs
// allow it, relayed through TURN otherwise (linked.direct, linked.relayed); a relayed link keeps
// looking for a direct path and moves onto it without a gap. Every effect (connecting, the
// handshake, watching a link, the WebRTC upgrade, the rendezvous) is a named actor supplied by the
// service, so the machine reads as the diagram above and a test can replace each one; backoff,
// deadlines and probes are `after` transitions on XState's clock.
import { and, assign, fromCallback, fromPromise, not, sendTo, setup, type AnyActorRef } from 'xstate';
import type { MessageTransport, PeerLink } from '../../transport/types.js';

export * from './peer-types.js';
import {
  BACKOFF_MAX_MS,
  DIAL_DEADLINE_MS,
  errorOf,
  isOffer,
  keepIncoming,
  sidOf,
  probeEveryMs,
  type PeerAddr,
  type PeerContext,
  type PeerEvent,
  type PeerInput,
  type RvInput,
} from './peer-types.js';

export const peerMachine = setup({
  types: {} as {
    context: PeerContext;
    events: PeerEvent;
    input: PeerInput;
  },
  actors: {
    connect: fromPromise<MessageTransport, { addresses: PeerAddr[] }>(async () => {
      throw new Error('connect is supplied by NetworkService');
    }),
    handshake: fromPromise<PeerLink, { transport: MessageTransport; dev: string }>(async () => {
      throw new Error('handshake is supplied by NetworkService');
    }),
    /** Reports the link's close as LINK_CLOSED, and closes it when the state is left. */
    watch: fromCallback<PeerEvent, { link: PeerLink }>(() => () => undefined),
    /** Runs the WebRTC upgrade on an open link; reports RTC_UP, then RTC_DOWN. */
    upgrade: fromCallback<PeerEvent, { link: PeerLink; offerer: boolean }>(() => () => undefined),
    /** A WebRTC session signalled through member `via`; takes SIGNAL, reports RV_UP or RV_FAILED. */
    rendezvous: fromCallback<PeerEvent, RvInput>(() => () => undefined),
  },
  actions: {
    /** A member that reaches the device (or no longer does). */
    addRelay: assign({
      relays: ({ context, event }) =>
        event.type !== 'RELAY'
          ? context.relays
          : event.up
            ? context.relays.includes(event.via)
              ? context.relays
              : [...context.relays, event.via]
            : context.relays.filter((r) => r !== event.via),
    }),
    /** A dial that failed tries the next address the next time (a link that dropped retries the first). */
    nextAddress: assign({ next: ({ context }) => context.next + 1 }),
    /** The link that came in (or that pairing or `peer add` dialed) becomes this peer's link. */
    adopt: assign(({ context, event }) => {
      if (event.type !== 'INBOUND') return {};
      const a = event.address;
      const known = !a || context.addresses.some((x) => x.host === a.host && x.port === a.port);
      return {
        link: event.link,
        outbound: !!event.outbound,
        addresses: known ? context.addresses : [...context.addresses, a],
      };
    }),
    /** A rendezvous link becomes this peer's link. */
    adoptRv: assign(({ event }) =>
      event.type === 'RV_UP' ? { link: event.link, outbound: true, rtc: null, sid: null, offer: null } : {},
    ),
    /** A call: a fresh session id, through the next member that reaches the device. */
    startCall: assign(({ context }) => ({
      sid: sidOf(context.self, context.rvSeq + 1),
      rvSeq: context.rvSeq + 1,
      via: context.relays[context.attempts % Math.max(1, context.relays.length)] ?? null,
      offer: null,
      lastTry: 'call' as const,
      attempts: context.attempts + 1,
    })),
    /** An offer from the device: we answer it through the member it came by. */
    takeOffer: assign(({ event }) =>
      event.type === 'SIGNAL' ? { sid: event.sid, via: event.via, offer: event.signal } : {},
    ),
    /** The caller's side of a probe for a direct path. */
    startProbe: assign(({ context }) => ({
      sid: sidOf(context.self, context.rvSeq + 1),
      rvSeq: context.rvSeq + 1,
      via: context.relays[0] ?? null,
      offer: null,
    })),
    endRv: assign({ sid: null, offer: null }),
    /** No link through the members before the deadline. */
    rvTimedOut: assign({
      lastError: { code: 'E_RENDEZVOUS_TIMEOUT', message: 'no link through the members in time' },
    }),
    /** The rendezvous said why it failed. */
    noteFailure: assign(({ event }) =>
      event.type === 'RV_FAILED' ? { lastError: { code: event.code, message: event.message } } : {},
    ),
    forwardSignal: sendTo('rv', ({ event }) => event),
    /** Told to the parent: a link (or a better one) is up, or none is. */
    linkUp: () => undefined,
    linkDown: () => undefined,
    closeLink: () => undefined,
    closeIncoming: () => undefined,
    /** A rendezvous link nobody wants any more (the state moved on): closed. */
    closeStray: () => undefined,
    /** The relayed link, replaced by a direct one: closed (the sessions move with LINK_UP). */
    closeReplaced: () => undefined,
    /** The direct link replaces the relayed one, and the watcher follows it. */
    swapLink: assign(({ event }) =>
      event.type === 'RV_UP' ? { link: event.link, sid: null, offer: null, outbound: true } : {},
    ),
    rewatch: sendTo('watch', ({ context }) => ({ type: 'WATCH', link: context.link! }) satisfies PeerEvent),
  },
  guards: {
    hasAddress: ({ context }) => context.addresses.length > 0,
    wantsWebRtc: ({ context }) => context.webrtc,
    keepIncoming: ({ context, event }) => event.type === 'INBOUND' && keepIncoming(context, event.outbound),
    /** While we dial: an incoming link wins if the peer's id is the smaller (its dial is the one both keep). */
    incomingWins: ({ context, event }) => event.type === 'INBOUND' && (!!event.outbound || context.dev < context.self),
    isCurrentLink: ({ context, event }) =>
      (event.type === 'LINK_CLOSED' || event.type === 'RTC_DOWN') &&
      (event.link === context.link || event.link === context.rtc),
    canCall: ({ context }) => context.rendezvous && context.relays.length > 0,
    relayUp: ({ event }) => event.type === 'RELAY' && event.up,
    /** The member in the event is the one to call through (the relays are updated by the transition). */
    canCallAfterRelay: ({ context }) => context.rendezvous,
    /** After a failed dial, a call (when a member can forward one); after a call, a dial. */
    dialNext: ({ context }) =>
      context.addresses.length > 0 && !(context.lastTry === 'dial' && context.rendezvous && context.relays.length > 0),
    isOffer: ({ context, event }) =>
      context.rendezvous && isOffer(event) && (event as { purpose?: string }).purpose === 'link',
    isAnyOffer: ({ event }) => isOffer(event),
    isProbeOffer: ({ event }) => isOffer(event) && (event as { purpose?: string }).purpose === 'probe',
    /** Both called at once: the call of the smaller id goes on, the other side answers it. */
    loseGlare: ({ context, event }) =>
      isOffer(event) && (event as { purpose?: string }).purpose === 'link' && context.dev < context.self,
    /** A new offer (the caller gave up on the one we answer and called again). */
    newOffer: ({ context, event }) =>
      isOffer(event) && event.type === 'SIGNAL' && event.sid !== context.sid && event.purpose === 'link',
    sameSid: ({ context, event }) =>
      (event.type === 'SIGNAL' || event.type === 'RV_UP' || event.type === 'RV_FAILED') && event.sid === context.sid,
    relayedUp: ({ context, event }) => event.type === 'RV_UP' && event.sid === context.sid && event.relayed,
    directUp: ({ context, event }) => event.type === 'RV_UP' && event.sid === context.sid && !event.relayed,
    /** The side that called probes (both sides knowing which keeps them from probing at once). */
    prober: ({ context }) => context.outbound && context.relays.length > 0,
  },
  delays: {
    backoff: ({ context }) => Math.min(BACKOFF_MAX_MS, 250 * 2 ** Math.min(context.attempts, 7)),
    dialDeadline: DIAL_DEADLINE_MS,
    probeEvery: () => probeEveryMs(),
  },
}).createMachine({
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
    /** We offer, through a member; the device answers through it. */
    calling: {
      entry: 'startCall',
      exit: 'endRv',
      invoke: {
        id: 'rv',
        src: 'rendezvous',
        input: ({ context }) => ({
          dev: context.dev,
          via: context.via!,
          sid: context.sid!,
          offerer: true,
          purpose: 'link' as const,
        }),
      },
      after: { dialDeadline: { target: 'backoff', actions: 'rvTimedOut' } },
      on: {
        RV_UP: [
          { guard: 'relayedUp', target: 'linked.relayed', actions: 'adoptRv' },
          { guard: 'directUp', target: 'linked.direct', actions: 'adoptRv' },
          { actions: 'closeStray' },
        ],
        RV_FAILED: { guard: 'sameSid', target: 'backoff', actions: 'noteFailure' },
        // New STUN/TURN servers: a call gathered without them starts again with them.
        ICE_CHANGED: { target: 'calling', reenter: true },
        SIGNAL: [
          { guard: 'loseGlare', target: 'answering', actions: 'takeOffer' },
          // We win the glare, but the device may never have had our offer (it restarted since we
          // sent it): the call starts again, and the device answers the new offer.
          { guard: 'newOffer', target: 'calling', reenter: true },
          // An offer is never signalling of our own call, whatever its id says.
          { guard: and(['sameSid', not('isAnyOffer')]), actions: 'forwardSignal' },
        ],
        INBOUND: [{ guard: 'incomingWins', target: 'linked', actions: 'adopt' }, { actions: 'closeIncoming' }],
        PAUSE: 'paused',
      },
    },
    /** The device offered through a member; we answer through the same member. */
    answering: {
      exit: 'endRv',
      invoke: {
        id: 'rv',
        src: 'rendezvous',
        input: ({ context }) => ({
          dev: context.dev,
          via: context.via!,
          sid: context.sid!,
          offerer: false,
          purpose: 'link' as const,
          offer: context.offer!,
        }),
      },
      after: { dialDeadline: { target: 'backoff', actions: 'rvTimedOut' } },
      on: {
        RV_UP: [
          { guard: 'relayedUp', target: 'linked.relayed', actions: ['adoptRv', assign({ outbound: false })] },
          { guard: 'directUp', target: 'linked.direct', actions: ['adoptRv', assign({ outbound: false })] },
          { actions: 'closeStray' },
        ],
        RV_FAILED: { guard: 'sameSid', target: 'backoff', actions: 'noteFailure' },
        SIGNAL: [
          { guard: 'newOffer', target: 'answering', reenter: true, actions: 'takeOffer' },
          { guard: 'sameSid', actions: 'forwardSignal' },
        ],
        INBOUND: [{ guard: 'incomingWins', target: 'linked', actions: 'adopt' }, { actions: 'closeIncoming' }],
        PAUSE: 'paused',
      },
    },
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
        /** A WebRTC link through a TURN relay; every so often the caller looks for a direct path. */
        relayed: {
          initial: 'waiting',
          exit: 'endRv',
          on: {
            SIGNAL: [
              { guard: 'isProbeOffer', target: '.answeringProbe', reenter: true, actions: 'takeOffer' },
              { guard: 'sameSid', actions: 'forwardSignal' },
            ],
          },
          states: {
            waiting: { after: { probeEvery: { guard: 'prober', target: 'probing' } } },
            probing: {
              entry: 'startProbe',
              invoke: {
                id: 'rv',
                src: 'rendezvous',
                input: ({ context }) => ({
                  dev: context.dev,
                  via: context.via!,
                  sid: context.sid!,
                  offerer: true,
                  purpose: 'probe' as const,
                }),
              },
              on: {
                RV_UP: [
                  {
                    guard: 'directUp',
                    target: '#peer.linked.direct',
                    actions: ['closeReplaced', 'swapLink', 'rewatch', 'linkUp'],
                  },
                  { actions: 'closeStray' },
                ],
                RV_FAILED: { guard: 'sameSid', target: 'waiting', actions: 'endRv' },
              },
              after: { dialDeadline: { target: 'waiting', actions: 'endRv' } },
            },
            answeringProbe: {
              invoke: {
                id: 'rv',
                src: 'rendezvous',
                input: ({ context }) => ({
                  dev: context.dev,
                  via: context.via!,
                  sid: context.sid!,
                  offerer: false,
                  purpose: 'probe' as const,
                  offer: context.offer!,
                }),
              },
              on: {
                RV_UP: [
                  {
                    guard: 'directUp',
                    target: '#peer.linked.direct',
                    actions: ['closeReplaced', 'swapLink', assign({ outbound: false }), 'rewatch', 'linkUp'],
                  },
                  { actions: 'closeStray' },
                ],
                RV_FAILED: { guard: 'sameSid', target: 'waiting', actions: 'endRv' },
              },
              after: { dialDeadline: { target: 'waiting', actions: 'endRv' } },
            },
          },
        },
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
