// The seams of the one link stack: a message transport below (a WebSocket, a WebRTC data
// channel, or memory), and above it the Noise handshake, the encrypted framing and the
// multiplexer that together make a PeerLink (transport -> handshake -> secure -> mux).

export type TransportKind = 'lan-ws' | 'webrtc' | 'memory';

/** Why a link or transport ended: a stable code and a sentence, never a string to parse back. */
export interface CloseReason {
  code: string;
  message: string;
  /** Set when the peer said so (its encrypted close), rather than this side deciding. */
  byPeer?: true;
}

/**
 * One reliable, ordered message pipe to one peer (TCP under a WebSocket, SCTP under a data
 * channel). Nothing here is trusted: the layers above authenticate every byte.
 */
export interface MessageTransport {
  readonly kind: TransportKind;
  /** Largest message `send` accepts (the data channel's negotiated maxMessageSize). */
  readonly maxMessageSize: number;
  /** Where the bytes come from, for the log and `sd sync status` ("127.0.0.1:4242"). */
  readonly remoteAddress: string;
  send(data: Uint8Array): void;
  /** A single receiver: a later call replaces the earlier one; messages that came first wait for it. */
  onMessage(cb: (data: Uint8Array) => void): void;
  /** Called once, when either side closed or the pipe failed. */
  onClose(cb: (reason: CloseReason) => void): void;
  close(reason?: CloseReason): void;
  /** Bytes accepted by `send` but not yet handed to the network. */
  bufferedAmount(): number;
  /** Called when bufferedAmount falls from above `lowWater` to or below it. */
  onDrain(lowWater: number, cb: () => void): void;
  readonly closed: boolean;
  /** WebRTC: the ICE candidate types of the pair in use (host, srflx, prflx, relay), once known. */
  route?(): LinkRoute | null;
}

export interface LinkRoute {
  local: string;
  remote: string;
}

/** How a peer is reached, as `sd sync status` says it. */
export type LinkPath = 'lan-ws' | 'webrtc-direct' | 'webrtc-relay' | 'memory';

/**
 * The path of a link once its route is settled: right after a WebRTC link opens, the selected pair
 * may not be known yet (or its far candidate may be a peer-reflexive stand-in for a relay one not
 * yet signalled), and `pathOf` then said `webrtc-direct`. A side that decided "direct" from that
 * stayed out of the relayed states, never answered the other side's probes, and the two kept a
 * relayed link each thought differently about (seen once in the NAT test under load). Waits up
 * to `ms` for a known pair with no unresolved peer-reflexive end; a route still unknown then
 * counts as relayed: a needless probe costs less than a relayed link taken for direct.
 */
export async function settledPath(
  link: Pick<PeerLink, 'kind' | 'route'>,
  ms = 2000,
): Promise<{ path: LinkPath; candidate: string | null }> {
  if (link.kind === 'lan-ws' || link.kind === 'memory') return pathOf(link);
  const end = Date.now() + ms;
  for (;;) {
    const r = link.route();
    if (r && r.local !== 'prflx' && r.remote !== 'prflx') return pathOf(link);
    if (Date.now() >= end) return r ? pathOf(link) : { path: 'webrtc-relay', candidate: null };
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The path of a link: a WebRTC link through a TURN relay on either side is `webrtc-relay`. */
export function pathOf(link: Pick<PeerLink, 'kind' | 'route'>): { path: LinkPath; candidate: string | null } {
  if (link.kind === 'lan-ws') return { path: 'lan-ws', candidate: null };
  if (link.kind === 'memory') return { path: 'memory', candidate: null };
  const r = link.route();
  if (!r) return { path: 'webrtc-direct', candidate: null };
  if (r.local === 'relay' || r.remote === 'relay') return { path: 'webrtc-relay', candidate: 'relay' };
  const reflexive = (t: string): boolean => t === 'srflx' || t === 'prflx';
  return { path: 'webrtc-direct', candidate: reflexive(r.local) || reflexive(r.remote) ? 'srflx' : 'host' };
}

export interface LinkStats {
  kind: TransportKind;
  openedAt: number;
  sentMessages: number;
  receivedMessages: number;
  sentBytes: number;
  receivedBytes: number;
  /** Encrypted records on the wire, each at most one Noise transport message. */
  sentRecords: number;
  receivedRecords: number;
  /** Bytes handed to the transport and not yet written to the network. */
  queuedBytes: number;
}

export type LinkMode = 'member' | 'pair';

export interface PeerLinkEvents {
  message: (channel: string | number, data: Uint8Array) => void;
  close: (reason: CloseReason) => void;
  /** The transport's buffer fell below its low-water mark: `send` returns true again. */
  drain: () => void;
}

/** An authenticated, encrypted, ordered, multiplexed duplex to one device. */
export interface PeerLink {
  /** Device id of the peer (base32 of BLAKE3 of its raw public key). */
  readonly peerId: string;
  readonly peerPublicKey: Uint8Array;
  readonly kind: TransportKind;
  readonly remoteAddress: string;
  readonly openedAt: number;
  /** 'pair': the initiator asked to pair, not to sync; see `restrict`. */
  readonly mode: LinkMode;
  /** The Noise handshake hash: the same on both ends, unique to this session (channel binding). */
  readonly handshakeHash: Uint8Array;
  readonly isOpen: boolean;
  /**
   * Sends one message on a channel; big messages are cut into records and rebuilt in order.
   * Returns false above the high-water mark (wait for 'drain'); throws E_LINK_QUEUE_FULL at the
   * hard limit, E_FRAME_TOO_LARGE over the message limit and E_LINK_CLOSED once closed. A `bulk`
   * message (a file chunk) is sealed with AES-256-GCM in records of up to a chunk each.
   */
  send(channel: string | number, data: Uint8Array, opts?: { bulk?: boolean }): boolean;
  on<E extends keyof PeerLinkEvents>(event: E, cb: PeerLinkEvents[E]): this;
  once<E extends keyof PeerLinkEvents>(event: E, cb: PeerLinkEvents[E]): this;
  off<E extends keyof PeerLinkEvents>(event: E, cb: PeerLinkEvents[E]): this;
  /** Only this channel is accepted from the peer (a stranger that came to pair); null lifts it. */
  restrict(channel: string | null): void;
  /** Bytes queued in the transport. */
  bufferedAmount(): number;
  /** Resolves when the transport's buffer is empty (or the link closed, or the timeout passed). */
  flush(timeoutMs?: number): Promise<void>;
  /** Tells the peer why (inside the encrypted session), then closes. */
  close(code: string, message: string): void;
  stats(): LinkStats;
  /** Round-trip time of the last heartbeat echo (ms), null before the first. */
  readonly rttMs: number | null;
  /** The transport's ICE candidate pair (WebRTC), null otherwise or before it is known. */
  route(): LinkRoute | null;
}

/**
 * The codes a peer may name in a refusal or a close: the catalogue of link outcomes. Anything else
 * a peer sends is reported as E_REFUSED, so a peer cannot fill the refusal counters (or the log)
 * with codes of its own choosing.
 */
export const LINK_CODES = new Set([
  // handshake
  'E_PEER_NOT_ALLOWED',
  'E_REVOKED',
  'E_UNEXPECTED_PEER',
  'E_BAD_HANDSHAKE',
  'E_PROTOCOL_VERSION',
  'E_HANDSHAKE_TIMEOUT',
  // records and frames
  'E_FRAME_TAMPERED',
  'E_FRAME_REPLAYED',
  'E_FRAME_MISSING',
  'E_FRAME_TOO_LARGE',
  'E_BAD_FRAME',
  'E_FLOOD',
  'E_HEARTBEAT',
  // ordinary ends
  'E_SHUTDOWN',
  'E_PARTITION',
  'E_DUPLICATE_LINK',
  'E_LINK_CLOSED',
  'E_INTERNAL',
  // feed sessions that gave up on a peer
  'E_BAD_SIGNATURE',
  'E_BROKEN_CHAIN',
  'E_BAD_EVENT',
  // pairing
  'E_PAIR_REFUSED',
  'E_PAIR_REUSED',
  'E_PAIR_EXPIRED',
  'E_PAIR_LOCKED',
  'E_PAIR_LOCKED_OUT',
  'E_PAIR_TIMEOUT',
  'E_PAIR_PROOF',
  'E_ALREADY_PAIRED',
  'E_JOIN_FAILED',
]);

export function knownCode(code: unknown): string {
  return typeof code === 'string' && LINK_CODES.has(code) ? code : 'E_REFUSED';
}
