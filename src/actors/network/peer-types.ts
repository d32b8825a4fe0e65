// The peer machine's context, events and the rules both ends apply the same way (see peer.ts).
import type { MessageTransport, PeerLink } from '../../transport/types.js';
import type { RtcSignal } from '../../transport/webrtc.js';

export interface PeerAddr {
  host: string;
  port: number;
}

export interface PeerInput {
  dev: string;
  self: string;
  addresses: PeerAddr[];
  /** Move a LAN WebSocket link onto WebRTC (`webrtc on`). */
  webrtc: boolean;
  /** Call the device through members when no address reaches it (`webrtc auto` or `on`). */
  rendezvous?: boolean;
  /** Members that hold a link to the device (they forward our signalling). */
  relays?: string[];
}

/** Why a rendezvous runs: to link, or to look for a direct path beside a relayed link. */
export type RvPurpose = 'link' | 'probe';

/** What the rendezvous actor is given. */
export interface RvInput {
  dev: string;
  via: string;
  sid: string;
  offerer: boolean;
  purpose: RvPurpose;
  /** The answerer: the offer that started it. */
  offer?: RtcSignal;
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
  rendezvous: boolean;
  relays: string[];
  /** The rendezvous under way (calling, answering, probing): its id, the member it crosses, the offer. */
  sid: string | null;
  via: string | null;
  offer: RtcSignal | null;
  /** What the last attempt was: a failed dial is followed by a call when a member can forward one. */
  lastTry: 'dial' | 'call' | null;
  /** How many rendezvous this actor started (their ids count up). */
  rvSeq: number;
}

export type PeerEvent =
  | { type: 'ADDRESS'; address: PeerAddr }
  | { type: 'FORGET'; address: PeerAddr }
  /** A link that came up outside this actor: dialed by the peer, or by us for pairing or `peer add`. */
  | { type: 'INBOUND'; link: PeerLink; outbound?: boolean; address?: PeerAddr }
  | { type: 'LINK_CLOSED'; link: PeerLink; code: string; message: string }
  | { type: 'RTC_UP'; link: PeerLink }
  | { type: 'RTC_DOWN'; link: PeerLink }
  /** A member says it links (or no longer links) to the device. */
  | { type: 'RELAY'; via: string; up: boolean }
  /** Signalling from the device, opened (it was sealed for us) after crossing member `via`. */
  | { type: 'SIGNAL'; via: string; sid: string; purpose: RvPurpose; signal: RtcSignal }
  /** The rendezvous `sid` made a link (through a TURN relay, or direct), or failed. */
  | { type: 'RV_UP'; sid: string; link: PeerLink; relayed: boolean }
  | { type: 'RV_FAILED'; sid: string; code: string; message: string }
  /** `sd peer add DEVICE_ID`: try now. */
  | { type: 'CALL' }
  | { type: 'ICE_CHANGED' }
  /** To the watcher: the link it watches is replaced (a direct path took over). */
  | { type: 'WATCH'; link: PeerLink }
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

export const errorOf = (e: unknown): { code: string; message: string } => ({
  code: (e as { code?: string })?.code ?? 'E_DIAL',
  message: (e as Error)?.message ?? String(e),
});

export const BACKOFF_MAX_MS = 30_000;
export const DIAL_DEADLINE_MS = 20_000;
/** How often a relayed link looks for a direct path (SD_DIRECT_PROBE_MS lowers it in tests). */
export const PROBE_EVERY_MS = 60_000;
export const probeEveryMs = (): number => {
  const v = Number(process.env.SD_DIRECT_PROBE_MS);
  return Number.isFinite(v) && v > 0 ? v : PROBE_EVERY_MS;
};

/**
 * Rendezvous ids: this process's random prefix, the calling device and the actor's count. Two
 * devices in one process (an embedded core, a test) call each other with the same prefix and
 * count: without the device, both calls of a glare had one id, and each side took the other's
 * offer for signalling of its own call.
 */
const SID_PREFIX = Math.random().toString(36).slice(2, 10);
export const sidOf = (self: string, seq: number): string => `${SID_PREFIX}.${self.slice(0, 8)}.${seq}`;
export const isOffer = (e: PeerEvent): boolean =>
  e.type === 'SIGNAL' && e.signal.type === 'description' && e.signal.descType === 'offer';
