// One known device, as NetworkService sees it: idle → dialing → handshaking → linked (ws, then
// webrtc if both sides want it) → backoff → … → revoked. Every effect (connecting, the handshake,
// watching a link, the WebRTC upgrade) is a named actor supplied by the service, so the machine
// reads as the diagram above and a test can replace each one; backoff and deadlines are `after`
// transitions on XState's clock.
import { assign, fromCallback, fromPromise, setup, type AnyActorRef } from 'xstate';
import type { MessageTransport, PeerLink } from '../../transport/types.js';

export interface PeerAddr {
  host: string;
  port: number;
}

export interface PeerInput {
  dev: string;
  self: string;
  addresses: PeerAddr[];
  webrtc: boolean;
}

export interface PeerContext extends PeerInput {
  attempts: number;
  lastError: { code: string; message: string } | null;
  link: PeerLink | null;
  rtc: PeerLink | null;
  transport: MessageTransport | null;
  /** Whether we dialed the current link (the duplicate-link rule needs it). */
  outbound: boolean;
  /** Index into `addresses` of the next one to try. */
  next: number;
}

export type PeerEvent =
  | { type: 'ADDRESS'; address: PeerAddr }
  | { type: 'FORGET'; address: PeerAddr }
  /** A link that came up outside this actor: dialed by the peer, or by us for pairing or `peer add`. */
  | { type: 'INBOUND'; link: PeerLink; outbound?: boolean; address?: PeerAddr }
  | { type: 'LINK_CLOSED'; link: PeerLink; code: string; message: string }
  | { type: 'RTC_UP'; link: PeerLink }
  | { type: 'RTC_DOWN'; link: PeerLink }
  | { type: 'REVOKED' }
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'STOP' };

/**
 * Both sides dialed: both keep the link dialed by the smaller device id. Two links dialed by the
 * same device: the newer (its dialer gave up on the older one).
 */
export function keepIncoming(ctx: Pick<PeerContext, 'self' | 'dev' | 'outbound'>, incomingOutbound = false): boolean {
  const existingDialer = ctx.outbound ? ctx.self : ctx.dev;
  const incomingDialer = incomingOutbound ? ctx.self : ctx.dev;
  return incomingDialer <= existingDialer;
}

const errorOf = (e: unknown): { code: string; message: string } => ({
  code: (e as { code?: string })?.code ?? 'E_DIAL',
  message: (e as Error)?.message ?? String(e),
});

export const BACKOFF_MAX_MS = 30_000;
export const DIAL_DEADLINE_MS = 20_000;

export const peerMachine = setup({
  types: {} as {
    context: PeerContext;
    events: PeerEvent;
    input: PeerInput;
  },
  actors: {
    connect: fromPromise<MessageTransport, { address: PeerAddr }>(async () => {
      throw new Error('connect is supplied by NetworkService');
    }),
    handshake: fromPromise<PeerLink, { transport: MessageTransport; dev: string }>(async () => {
      throw new Error('handshake is supplied by NetworkService');
    }),
    /** Reports the link's close as LINK_CLOSED, and closes it when the state is left. */
    watch: fromCallback<PeerEvent, { link: PeerLink }>(() => () => undefined),
    /** Runs the WebRTC upgrade on an open link; reports RTC_UP, then RTC_DOWN. */
    upgrade: fromCallback<PeerEvent, { link: PeerLink; offerer: boolean }>(() => () => undefined),
  },
  actions: {
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
    /** Told to the parent: a link (or a better one) is up, or none is. */
    linkUp: () => undefined,
    linkDown: () => undefined,
    closeLink: () => undefined,
    closeIncoming: () => undefined,
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
  },
  delays: {
    backoff: ({ context }) => Math.min(BACKOFF_MAX_MS, 250 * 2 ** Math.min(context.attempts, 7)),
    dialDeadline: DIAL_DEADLINE_MS,
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
  },
  states: {
    idle: {
      always: { guard: 'hasAddress', target: 'dialing' },
      on: {
        INBOUND: { target: 'linked', actions: 'adopt' },
        PAUSE: 'paused',
      },
    },
    dialing: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1 }),
      invoke: {
        id: 'connect',
        src: 'connect',
        input: ({ context }) => ({ address: context.addresses[context.next % context.addresses.length]! }),
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
      },
    },
    backoff: {
      after: { backoff: [{ guard: 'hasAddress', target: 'dialing' }, { target: 'idle' }] },
      on: {
        INBOUND: { target: 'linked', actions: 'adopt' },
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
      on: { RESUME: { target: 'backoff', actions: assign({ attempts: 0 }) }, INBOUND: { actions: 'closeIncoming' } },
    },
    revoked: { type: 'final', entry: 'closeLink' },
    stopped: { type: 'final' },
  },
});

export type PeerActor = AnyActorRef;
