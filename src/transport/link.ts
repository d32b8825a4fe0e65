// PeerLink: an authenticated, framed, multiplexed duplex to one device over a message
// transport (a WebSocket here; TCP already keeps order and loses nothing). Every frame is
// msgpack [channel, bytes]; heartbeats close a link whose peer went silent.
import { EventEmitter } from 'node:events';
import { Packr, Unpackr } from 'msgpackr';
import type WebSocket from 'ws';
import { SdError } from '../errors.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export interface LinkStats {
  sentFrames: number;
  receivedFrames: number;
  sentBytes: number;
  receivedBytes: number;
  badFrames: number;
}

/**
 * Inbound frames a member may send: a burst of FLOOD_BURST, refilled at FLOOD_RATE a second.
 * Replication sends a few large frames a second and a relay a few thousand small ones; a peer
 * far above that is flooding and is disconnected (E_FLOOD).
 */
export const FLOOD_RATE = 20_000;
export const FLOOD_BURST = 100_000;

export interface PeerLinkInfo {
  peerId: string;
  peerPublicKey: Uint8Array;
  kind: 'lan-ws' | 'webrtc';
  /** 'pair': an unknown key that may only speak the pairing protocol. */
  mode: 'member' | 'pair';
  /** Set on the side that accepted an unknown key for pairing: it may only speak 'pair'. */
  restricted?: boolean;
  remoteAddress: string;
}

export class PeerLink extends EventEmitter {
  readonly stats: LinkStats = { sentFrames: 0, receivedFrames: 0, sentBytes: 0, receivedBytes: 0, badFrames: 0 };
  readonly openedAt = Date.now();
  private closed = false;
  private lastSeen = Date.now();
  private readonly beat: NodeJS.Timeout;
  private tokens = FLOOD_BURST;
  private refilledAt = Date.now();

  constructor(
    private readonly ws: WebSocket,
    readonly info: PeerLinkInfo,
    heartbeatMs = 5000,
  ) {
    super();
    this.setMaxListeners(100);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('pong', () => (this.lastSeen = Date.now()));
    // 1009: a frame over the limit. Ours stay far under it (batches of at most ~2 MiB), so it
    // was the peer's, whichever side's 'close' or 'error' event comes first.
    ws.on('close', (code, reason) =>
      this.finish(
        code === 1009
          ? 'E_FRAME_TOO_LARGE: the peer sent a frame over the limit'
          : reason.toString() || `closed (${code})`,
      ),
    );
    ws.on('error', (e: Error & { code?: string }) =>
      this.finish(
        e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? 'E_FRAME_TOO_LARGE: the peer sent a frame over the limit'
          : `transport error: ${e.message}`,
      ),
    );
    this.beat = setInterval(() => {
      if (Date.now() - this.lastSeen > heartbeatMs * 3) return this.close('E_HEARTBEAT: the peer stopped answering');
      try {
        ws.ping();
      } catch {
        // the close event follows
      }
    }, heartbeatMs);
    this.beat.unref();
  }

  get peerId(): string {
    return this.info.peerId;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(channel: string, data: Uint8Array): void {
    if (this.closed) throw new SdError('E_LINK_CLOSED', `the link to ${this.peerId.slice(0, 8)} is closed`);
    const frame = packr.pack([channel, data]);
    this.stats.sentFrames++;
    this.stats.sentBytes += frame.length;
    this.ws.send(frame);
  }

  /** Bytes queued in the socket: senders pause above a high-water mark (backpressure). */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    const now = Date.now();
    this.tokens = Math.min(FLOOD_BURST, this.tokens + ((now - this.refilledAt) * FLOOD_RATE) / 1000);
    this.refilledAt = now;
    if (--this.tokens < 0) {
      this.close(`E_FLOOD: more than ${FLOOD_BURST} frames at over ${FLOOD_RATE} a second`);
      return;
    }
    this.lastSeen = now;
    this.stats.receivedFrames++;
    this.stats.receivedBytes += data.length;
    let channel: unknown;
    let bytes: unknown;
    try {
      if (!isBinary) throw new Error('text frame');
      [channel, bytes] = unpackr.unpack(data) as [unknown, unknown];
      if (typeof channel !== 'string' || !(bytes instanceof Uint8Array)) throw new Error('not [channel, bytes]');
    } catch (e) {
      this.stats.badFrames++;
      this.emit('bad-frame', (e as Error).message);
      if (this.stats.badFrames > 10) this.close('E_BAD_FRAME: too many malformed frames');
      return;
    }
    if (this.info.mode === 'pair' && this.info.restricted && channel !== 'pair') {
      this.close('E_PEER_NOT_ALLOWED: a pairing link may only pair');
      return;
    }
    this.emit('message', channel, new Uint8Array(bytes));
  }

  close(reason: string): void {
    if (this.closed) return;
    try {
      this.ws.close(4000, reason.slice(0, 120));
    } catch {
      // already closing
    }
    // Don't wait for the closing handshake of a peer that may never answer.
    setTimeout(() => this.ws.terminate(), 1000).unref();
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.beat);
    this.emit('close', reason);
  }
}

/** A SyncChannel (what FeedSession and the automerge network adapter use) on one link channel. */
export function linkChannel(
  link: Pick<PeerLink, 'peerId' | 'send' | 'on' | 'once'>,
  name: string,
): {
  peerId: string;
  send(b: Uint8Array): void;
  onMessage(cb: (b: Uint8Array) => void): void;
  onClose(cb: () => void): void;
} {
  return {
    peerId: link.peerId,
    send: (b) => link.send(name, b),
    onMessage: (cb) => link.on('message', (ch: string, b: Uint8Array) => ch === name && cb(b)),
    onClose: (cb) => link.once('close', () => cb()),
  };
}
