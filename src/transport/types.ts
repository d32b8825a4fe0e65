// The seams of the transport stack: a lossy message pipe below, an authenticated,
// reliable, multiplexed PeerLink above (transport -> reliable -> handshake -> mux).

export type TransportKind = 'lan-ws' | 'webrtc';

/** One message pipe to one peer. It may drop, duplicate or reorder (WebRTC does, under bursts). */
export interface MessageTransport {
  readonly kind: TransportKind;
  /** Largest message `send` accepts; the reliable layer chunks below it. */
  readonly maxMessageSize: number;
  send(data: Uint8Array): void;
  /** A single receiver: a later call replaces the earlier one. */
  onMessage(cb: (data: Uint8Array) => void): void;
  /** Called once, when either side closed or the pipe failed. */
  onClose(cb: (reason: string) => void): void;
  close(reason?: string): void;
  /** Bytes accepted by `send` but not yet handed to the network. */
  bufferedAmount(): number;
  /** Called when bufferedAmount falls below the transport's low-water mark. */
  onDrain(cb: () => void): void;
  readonly closed: boolean;
}

export interface LinkStats {
  kind: TransportKind;
  openedAt: number;
  sentMessages: number;
  receivedMessages: number;
  sentBytes: number;
  receivedBytes: number;
  /** Chunks sent again after a timeout or a selective ack showed a hole. */
  retransmits: number;
  /** Chunks received twice (dropped acks, duplicating transports). */
  duplicates: number;
  /** Smoothed round-trip time in ms measured by the reliable layer. */
  srttMs: number;
  /** Bytes queued for sending (not yet acknowledged). */
  queuedBytes: number;
}

export interface PeerLinkEvents {
  message: (channel: string | number, data: Uint8Array) => void;
  close: (reason: string) => void;
  /** The send queue fell below its high-water mark: `send` returns true again. */
  drain: () => void;
}

/** An authenticated, reliable, ordered, multiplexed duplex to one paired device. */
export interface PeerLink {
  /** Device id of the peer (base32 of BLAKE3 of its raw public key). */
  readonly peerId: string;
  readonly peerPublicKey: Uint8Array;
  readonly kind: TransportKind;
  readonly isOpen: boolean;
  /**
   * Queues one message on a channel; the bytes are not copied, so don't mutate them after.
   * Returns false above the queue's high-water mark (wait for 'drain'); throws E_LINK_QUEUE_FULL
   * at the hard limit and E_LINK_CLOSED once closed.
   */
  send(channel: string | number, data: Uint8Array): boolean;
  on<E extends keyof PeerLinkEvents>(event: E, cb: PeerLinkEvents[E]): this;
  once<E extends keyof PeerLinkEvents>(event: E, cb: PeerLinkEvents[E]): this;
  off<E extends keyof PeerLinkEvents>(event: E, cb: PeerLinkEvents[E]): this;
  /** Bytes queued and not yet acknowledged by the peer. */
  bufferedAmount(): number;
  /** Resolves when everything queued so far was acknowledged (or the link closed). */
  flush(timeoutMs?: number): Promise<void>;
  /** Tells the peer why, waits briefly for that to be acknowledged, then closes. */
  close(reason: string): void;
  stats(): LinkStats;
}
