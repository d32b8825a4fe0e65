// The peer machine's vocabulary (see peer.ts): the named effects the service supplies, and the
// actions, guards and delays its transitions name, so peer.ts reads as the diagram alone.
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { MessageTransport, PeerLink } from '../../transport/types.js';
import {
  BACKOFF_MAX_MS,
  DIAL_DEADLINE_MS,
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

export const peerSetup = setup({
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
});
