// Channels multiplexed on one reliable stream, heartbeats, and a close reason both sides see.
// Frame: type(1) then, for data, the channel (u32, or u8 length + UTF-8 name) and the bytes.
import { EventEmitter } from 'node:events';
import { SdError } from '../errors.js';
import type { ReliableStream } from './reliable.js';
import type { LinkStats, PeerLink, TransportKind } from './types.js';

const DATA_NUM = 0;
const DATA_STR = 1;
const PING = 2;
const CLOSE = 4;
const enc = new TextEncoder();
const dec = new TextDecoder();

export interface MuxOptions {
  /** A ping goes out this often; the peer's acks of it prove it is alive. */
  heartbeatMs?: number;
  /** Heartbeat periods without hearing anything before the link is closed. */
  missedHeartbeats?: number;
}

export class MuxLink extends EventEmitter implements PeerLink {
  readonly kind: TransportKind;
  private readonly openedAt = Date.now();
  private closedReason: string | undefined;
  private readonly beat: NodeJS.Timeout;
  private readonly counts = { sentMessages: 0, receivedMessages: 0, sentBytes: 0, receivedBytes: 0 };

  constructor(
    private readonly stream: ReliableStream,
    readonly peerId: string,
    readonly peerPublicKey: Uint8Array,
    opts: MuxOptions = {},
  ) {
    super();
    this.setMaxListeners(100);
    this.kind = stream.transport.kind;
    const period = opts.heartbeatMs ?? 5000;
    const missed = opts.missedHeartbeats ?? 3;
    stream.onClose((r) => this.finish(r));
    stream.onDrain(() => this.emit('drain'));
    // Missed ticks, not wall time: a stalled event loop must not look like a silent peer.
    let heard = stream.framesHeard;
    let silentTicks = 0;
    this.beat = setInterval(() => {
      silentTicks = stream.framesHeard === heard ? silentTicks + 1 : 0;
      heard = stream.framesHeard;
      if (silentTicks >= missed) return this.close(`E_HEARTBEAT: nothing heard from the peer for ${missed} heartbeats`);
      if (!stream.closed) stream.send(Uint8Array.of(PING));
    }, period);
    this.beat.unref();
    // Set last: messages that arrived during the handshake are delivered now, in order.
    stream.onMessage((f) => this.onFrame(f));
  }

  get isOpen(): boolean {
    return this.closedReason === undefined;
  }

  send(channel: string | number, data: Uint8Array): boolean {
    if (this.closedReason !== undefined)
      throw new SdError('E_LINK_CLOSED', `the link to ${this.peerId.slice(0, 8)} is closed: ${this.closedReason}`);
    let frame: Uint8Array;
    if (typeof channel === 'number') {
      if (!Number.isInteger(channel) || channel < 0 || channel > 0xffffffff)
        throw new SdError('E_BAD_CHANNEL', `channel ${channel} is not a u32`);
      frame = new Uint8Array(5 + data.length);
      frame[0] = DATA_NUM;
      new DataView(frame.buffer).setUint32(1, channel);
      frame.set(data, 5);
    } else {
      const name = enc.encode(channel);
      if (name.length > 255) throw new SdError('E_BAD_CHANNEL', 'a channel name has at most 255 bytes');
      frame = new Uint8Array(2 + name.length + data.length);
      frame[0] = DATA_STR;
      frame[1] = name.length;
      frame.set(name, 2);
      frame.set(data, 2 + name.length);
    }
    this.counts.sentMessages++;
    this.counts.sentBytes += data.length;
    return this.stream.send(frame);
  }

  bufferedAmount(): number {
    return this.stream.bufferedAmount();
  }

  flush(timeoutMs?: number): Promise<void> {
    return this.stream.flush(timeoutMs);
  }

  close(reason: string): void {
    if (this.closedReason !== undefined) return;
    const stream = this.stream;
    if (!stream.closed) {
      try {
        const r = enc.encode(reason);
        const f = new Uint8Array(1 + r.length);
        f[0] = CLOSE;
        f.set(r, 1);
        stream.send(f);
      } catch {
        // the queue is full or closed: the transport's own close still carries the reason
      }
      // Give the goodbye a moment to be acknowledged, then drop the transport.
      void stream.flush(1000).then(() => stream.close(reason));
    }
    this.finish(reason);
  }

  stats(): LinkStats {
    const s = this.stream.stats;
    return {
      kind: this.kind,
      openedAt: this.openedAt,
      ...this.counts,
      retransmits: s.retransmits,
      duplicates: s.duplicates,
      srttMs: s.srttMs,
      queuedBytes: s.queuedBytes,
    };
  }

  private onFrame(f: Uint8Array): void {
    if (this.closedReason !== undefined || f.length === 0) return;
    const type = f[0];
    if (type === PING) return;
    if (type === CLOSE) {
      const reason = dec.decode(f.subarray(1));
      this.finish(reason);
      this.stream.close(reason);
      return;
    }
    let channel: string | number;
    let data: Uint8Array;
    if (type === DATA_NUM && f.length >= 5) {
      channel = new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(1);
      data = f.subarray(5);
    } else if (type === DATA_STR && f.length >= 2 && f.length >= 2 + f[1]!) {
      channel = dec.decode(f.subarray(2, 2 + f[1]!));
      data = f.subarray(2 + f[1]!);
    } else return this.close(`E_BAD_FRAME: an unknown link frame (${type})`);
    this.counts.receivedMessages++;
    this.counts.receivedBytes += data.length;
    this.emit('message', channel, data);
  }

  private finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    clearInterval(this.beat);
    this.emit('close', reason);
  }
}
