// Channels multiplexed on one encrypted session, heartbeats, a flood limit, the responder's
// verdict, and a close reason both sides see. Frame: type(1) then, for data, the channel (u32,
// or u8 length + UTF-8 name) and the bytes; a close carries msgpack {code, message}.
import { EventEmitter } from 'node:events';
import { Packr, Unpackr } from 'msgpackr';
import { SdError } from '../errors.js';
import { MAX_MESSAGE_BYTES, type SecureChannel } from './secure.js';
import {
  knownCode,
  type CloseReason,
  type LinkMode,
  type LinkRoute,
  type LinkStats,
  type PeerLink,
  type TransportKind,
} from './types.js';
import { codeOf } from '../error-codes.js';
import { ACCEPT, CLOSE, dataHead, FLOOD_BURST, FLOOD_RATE, FloodLimit, parseData, PING } from './mux-frames.js';

export { FLOOD_BURST, FLOOD_RATE, MUX_OVERHEAD } from './mux-frames.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export interface MuxOptions {
  /** Largest message (its data) accepted; bigger is E_FRAME_TOO_LARGE. */
  maxMessageBytes?: number;
  /** A ping goes out this often; hearing nothing for `missedHeartbeats` periods closes the link. */
  heartbeatMs?: number;
  missedHeartbeats?: number;
}

export interface LinkInfo {
  peerId: string;
  peerPublicKey: Uint8Array;
  remoteAddress: string;
  mode: LinkMode;
  handshakeHash: Uint8Array;
}

export class MuxLink extends EventEmitter implements PeerLink {
  readonly kind: TransportKind;
  readonly openedAt = Date.now();
  readonly peerId: string;
  readonly peerPublicKey: Uint8Array;
  readonly remoteAddress: string;
  readonly mode: LinkMode;
  readonly handshakeHash: Uint8Array;
  private closedReason: CloseReason | undefined;
  private readonly beat: NodeJS.Timeout;
  private readonly counts = { sentMessages: 0, receivedMessages: 0, sentBytes: 0, receivedBytes: 0 };
  private only: string | null = null;
  /** Messages that arrive before the owner listens (see start). */
  private held: [string | number, Uint8Array][] | undefined = [];
  private readonly flood = new FloodLimit();
  private verdict: { resolve: () => void; reject: (e: SdError) => void } | undefined;
  /** Data may flow: the responder sent its verdict, or the initiator heard it. */
  private live = false;
  private readonly maxMessageBytes: number;
  private rtt: number | null = null;

  constructor(
    private readonly secure: SecureChannel,
    info: LinkInfo,
    early: Uint8Array[],
    opts: MuxOptions = {},
  ) {
    super();
    this.setMaxListeners(100);
    this.kind = secure.transport.kind;
    this.peerId = info.peerId;
    this.peerPublicKey = info.peerPublicKey;
    this.remoteAddress = info.remoteAddress;
    this.mode = info.mode;
    this.handshakeHash = info.handshakeHash;
    this.maxMessageBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    const period = opts.heartbeatMs ?? 5000;
    const missed = opts.missedHeartbeats ?? 3;
    secure.onClose((r) => this.finish(r));
    secure.onDrain(() => this.emit('drain'));
    // Our receiving side failed (a tampered, replayed or missing record): our sending side still
    // works, so the peer is told why inside the session.
    secure.onFail((r) => this.close(r.code, r.message));
    // Missed ticks, not wall time: a stalled event loop must not look like a silent peer.
    let heard = secure.recordsHeard;
    let silentTicks = 0;
    this.beat = setInterval(() => {
      silentTicks = secure.recordsHeard === heard ? silentTicks + 1 : 0;
      heard = secure.recordsHeard;
      if (silentTicks >= missed)
        return this.close('E_HEARTBEAT', `nothing heard from the peer for ${missed} heartbeats`);
      this.ping();
    }, period);
    this.beat.unref();
    secure.start(early, (f) => this.onFrame(f));
  }

  get isOpen(): boolean {
    return this.closedReason === undefined;
  }

  /**
   * A heartbeat that asks for an echo: PING, 0, our clock (f64). A peer of an older build ignores
   * the bytes after PING as it ignores every ping; ours answers PING, 1 with the same clock.
   */
  private ping(): void {
    const f = new Uint8Array(10);
    f[0] = PING;
    new DataView(f.buffer).setFloat64(2, performance.now());
    this.sendFrame(f);
  }

  private onPing(f: Uint8Array): void {
    if (f.length !== 10) return;
    if (f[1] === 0) {
      const echo = Uint8Array.from(f);
      echo[1] = 1;
      return this.sendFrame(echo);
    }
    const sent = new DataView(f.buffer, f.byteOffset, f.byteLength).getFloat64(2);
    const rtt = performance.now() - sent;
    if (rtt >= 0 && rtt < 120_000) this.rtt = Math.round(rtt * 10) / 10;
  }

  get rttMs(): number | null {
    return this.rtt;
  }

  route(): LinkRoute | null {
    return this.secure.transport.route?.() ?? null;
  }

  /** Delivers what was held and everything after it; called once the owner has listened. */
  start(): void {
    if (this.live) this.ping();
    const held = this.held ?? [];
    this.held = undefined;
    for (const [ch, data] of held) this.deliver(ch, data);
  }

  private deliver(channel: string | number, data: Uint8Array): void {
    if (!this.isOpen) return;
    if (this.only !== null && channel !== this.only)
      return this.close('E_PEER_NOT_ALLOWED', `this link may only use the ${this.only} channel`);
    this.emit('message', channel, data);
  }

  /** Responder: the peer may use the link. */
  accept(): void {
    this.live = true;
    this.sendFrame(Uint8Array.of(ACCEPT));
  }

  /** Initiator: resolves when the responder accepted, rejects with its refusal. */
  whenAccepted(timeoutMs: number): Promise<void> {
    if (this.live) return Promise.resolve();
    if (this.closedReason)
      return Promise.reject(new SdError(codeOf(this.closedReason.code, 'E_LINK_CLOSED'), this.closedReason.message));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.verdict = undefined;
        reject(new SdError('E_HANDSHAKE_TIMEOUT', 'the peer did not accept the link in time'));
      }, timeoutMs);
      this.verdict = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  private refusal(r: CloseReason): SdError {
    return new SdError(codeOf(r.code, 'E_REFUSED'), `the peer refused the link: ${r.message}`);
  }

  restrict(channel: string | null): void {
    this.only = channel;
  }

  send(channel: string | number, data: Uint8Array, opts?: { bulk?: boolean }): boolean {
    if (this.closedReason !== undefined)
      throw new SdError(
        'E_LINK_CLOSED',
        `the link to ${this.peerId.slice(0, 8)} is closed: ${this.closedReason.message}`,
      );
    if (data.length > this.maxMessageBytes)
      throw new SdError('E_FRAME_TOO_LARGE', `a message of ${data.length} bytes is over ${this.maxMessageBytes}`);
    // The frame's header and the data go as two parts: the data is copied once, into its records.
    const ok = this.secure.send([dataHead(channel), data], opts?.bulk === true);
    this.counts.sentMessages++;
    this.counts.sentBytes += data.length;
    return ok;
  }

  private sendFrame(f: Uint8Array): void {
    try {
      if (this.isOpen) this.secure.send(f);
    } catch {
      // closing: the close event follows
    }
  }

  bufferedAmount(): number {
    return this.secure.bufferedAmount();
  }

  flush(timeoutMs?: number): Promise<void> {
    return this.secure.flush(timeoutMs);
  }

  close(code: string, message: string): void {
    if (this.closedReason !== undefined) return;
    const reason = { code, message: message.slice(0, 200) };
    this.sendFrame(Buffer.concat([Uint8Array.of(CLOSE), packr.pack(reason)]));
    this.finish(reason);
    // The peer closes the transport once it has read the goodbye; after 1 s we do.
    this.secure.close(reason, 1000);
  }

  stats(): LinkStats {
    return {
      kind: this.kind,
      openedAt: this.openedAt,
      ...this.counts,
      sentRecords: this.secure.recordsSent,
      receivedRecords: this.secure.recordsHeard,
      queuedBytes: this.secure.bufferedAmount(),
    };
  }

  private onFrame(f: Uint8Array): void {
    if (this.closedReason !== undefined) return;
    if (!this.flood.take())
      return this.close('E_FLOOD', `more than ${FLOOD_BURST} frames at over ${FLOOD_RATE} a second`);
    const type = f[0];
    if (type === PING) return this.onPing(f);
    if (type === ACCEPT) {
      this.live = true;
      this.verdict?.resolve();
      return;
    }
    if (type === CLOSE) return this.onClose(f.subarray(1));
    const frame = parseData(f);
    if (!frame) return this.close('E_BAD_FRAME', `an unknown link frame (${type})`);
    const { channel, data } = frame;
    if (data.length > this.maxMessageBytes)
      return this.close('E_FRAME_TOO_LARGE', `the peer sent a message over ${this.maxMessageBytes} bytes`);
    if (!this.live) return this.close('E_BAD_FRAME', 'data before the link was accepted');
    this.counts.receivedMessages++;
    this.counts.receivedBytes += data.length;
    if (this.held) this.held.push([channel, data]);
    else this.deliver(channel, data);
  }

  private onClose(body: Uint8Array): void {
    let r: { code?: unknown; message?: unknown } = {};
    try {
      r = unpackr.unpack(body) as typeof r;
    } catch {
      // a close all the same
    }
    const reason = {
      code: knownCode(r?.code),
      message: String(r?.message ?? '').slice(0, 200),
      byPeer: true as const,
    };
    this.verdict?.reject(this.refusal(reason));
    this.finish(reason);
    this.secure.close(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.held = undefined;
    clearInterval(this.beat);
    this.verdict?.reject(new SdError(codeOf(reason.code, 'E_LINK_CLOSED'), reason.message));
    this.emit('close', reason);
  }
}
