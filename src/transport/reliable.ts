// Exactly-once, in-order messages over a transport that may drop, duplicate or reorder
// (node-datachannel loses messages under bursts): messages are cut into numbered chunks, the
// receiver acknowledges cumulatively plus selective ranges, the sender retransmits on timeout
// or on a hole, and a window bounds both the chunks in flight and the receiver's buffer.
import { SdError } from '../errors.js';
import { ACK, DATA, END, HEADER, readSeq, writeSeq } from './frames.js';
import { Receiver } from './receiver.js';
import type { MessageTransport } from './types.js';

export interface ReliableOptions {
  /** Payload bytes per chunk (capped by the transport's maxMessageSize). */
  chunkSize?: number;
  /** Chunks in flight; the receiver buffers at most this many out of order. */
  window?: number;
  /** Largest message accepted on either side. */
  maxMessageBytes?: number;
  /** `send` returns false above this many queued bytes (wait for onDrain). */
  highWaterBytes?: number;
  /** `send` throws E_LINK_QUEUE_FULL above this many queued bytes. */
  maxQueuedBytes?: number;
  /** Bytes we let the transport buffer before pausing (its own backpressure). */
  transportHighWater?: number;
  minRtoMs?: number;
  maxRtoMs?: number;
  /** A chunk unacknowledged for this long means the peer is gone. */
  deadAfterMs?: number;
}

interface Chunk {
  seq: number;
  frame: Uint8Array;
  size: number;
  sentAt: number;
  firstSentAt: number;
  tries: number;
  sacked: boolean;
}

export interface ReliableStats {
  retransmits: number;
  duplicates: number;
  srttMs: number;
  queuedBytes: number;
  inFlight: number;
}

export class ReliableStream {
  readonly stats: ReliableStats = { retransmits: 0, duplicates: 0, srttMs: 0, queuedBytes: 0, inFlight: 0 };
  lastHeardAt = Date.now();
  /** Frames received so far (heartbeats compare it between ticks). */
  framesHeard = 0;
  private readonly o: Required<ReliableOptions>;
  private readonly chunkSize: number;
  // sender
  private readonly queue: { data: Uint8Array; off: number }[] = [];
  private readonly unacked = new Map<number, Chunk>();
  private readonly retx: number[] = [];
  private base = 0; // lowest unacknowledged seq
  private nextSeq = 0;
  private peerWindow: number;
  private srtt = 0;
  private rttvar = 0;
  private rto: number;
  private timer: NodeJS.Timeout | undefined;
  private wantDrain = false;
  private flushWaiters: (() => void)[] = [];
  private readonly rx: Receiver;
  private pending: Uint8Array[] = [];
  private msgCb: ((m: Uint8Array) => void) | undefined;
  private closeCbs: ((reason: string) => void)[] = [];
  private drainCb: () => void = () => {};
  private closedReason: string | undefined;

  constructor(
    readonly transport: MessageTransport,
    opts: ReliableOptions = {},
  ) {
    this.o = {
      chunkSize: 60 * 1024,
      window: 128,
      maxMessageBytes: 64 * 1024 * 1024,
      highWaterBytes: 8 * 1024 * 1024,
      maxQueuedBytes: 128 * 1024 * 1024,
      transportHighWater: 1024 * 1024,
      minRtoMs: 100,
      maxRtoMs: 4000,
      deadAfterMs: 30_000,
      ...opts,
    };
    this.chunkSize = Math.max(1, Math.min(this.o.chunkSize, transport.maxMessageSize - HEADER));
    this.peerWindow = this.o.window;
    this.rx = new Receiver(this.o.window, this.o.maxMessageBytes, this.stats, {
      deliver: (m) => this.deliver(m),
      ack: () => this.sendAck(),
      fail: (code, message) => this.fail(code, message),
      closed: () => this.closed,
    });
    this.rto = Math.max(this.o.minRtoMs, 500);
    transport.onMessage((d) => this.onFrame(d));
    transport.onClose((r) => this.finish(r));
    transport.onDrain(() => this.pump());
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** One receiver; messages that arrived before it was set are handed to it first. */
  onMessage(cb: ((m: Uint8Array) => void) | undefined): void {
    this.msgCb = cb;
    while (this.msgCb && this.pending.length) this.msgCb(this.pending.shift()!);
  }
  /** Gives back messages a reader took but did not consume: the next receiver gets them first. */
  requeue(msgs: Uint8Array[]): void {
    this.pending.unshift(...msgs);
    this.onMessage(this.msgCb);
  }
  onClose(cb: (reason: string) => void): void {
    if (this.closedReason !== undefined) queueMicrotask(() => cb(this.closedReason!));
    else this.closeCbs.push(cb);
  }
  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }

  /** Queues a message (not copied). False above the high-water mark; throws at the hard limit. */
  send(data: Uint8Array): boolean {
    if (this.closedReason !== undefined) throw new SdError('E_LINK_CLOSED', `the link is closed: ${this.closedReason}`);
    if (data.length > this.o.maxMessageBytes)
      throw new SdError(
        'E_MESSAGE_TOO_LARGE',
        `a message of ${data.length} bytes exceeds the link's limit of ${this.o.maxMessageBytes}`,
      );
    if (this.stats.queuedBytes + data.length > this.o.maxQueuedBytes)
      throw new SdError('E_LINK_QUEUE_FULL', 'the link send queue is full: wait for drain before sending more');
    this.queue.push({ data, off: 0 });
    this.stats.queuedBytes += data.length;
    this.pump();
    const ok = this.stats.queuedBytes < this.o.highWaterBytes;
    if (!ok) this.wantDrain = true;
    return ok;
  }

  bufferedAmount(): number {
    return this.stats.queuedBytes;
  }

  /** Resolves once everything queued so far is acknowledged, the stream closed, or the time ran out. */
  flush(timeoutMs = 5000): Promise<void> {
    if (this.idle() || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.flushWaiters.push(done);
    });
  }

  close(reason = 'closed'): void {
    if (this.closedReason !== undefined) return;
    this.finish(reason);
    this.transport.close(reason);
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.unacked.size === 0;
  }

  private finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.unacked.clear();
    this.rx.clear();
    this.flushWaiters.splice(0).forEach((w) => w());
    for (const cb of this.closeCbs.splice(0)) cb(reason);
  }

  private fail(code: string, message: string): void {
    this.close(`${code}: ${message}`);
  }

  private transmit(frame: Uint8Array): boolean {
    try {
      this.transport.send(frame);
      return true;
    } catch (e) {
      this.fail('E_TRANSPORT', (e as Error).message);
      return false;
    }
  }

  private transportFull(): boolean {
    return this.transport.bufferedAmount() >= this.o.transportHighWater;
  }

  private pump(): void {
    if (this.closed) return;
    const now = Date.now();
    // Holes first: the receiver cannot deliver past them.
    while (this.retx.length && !this.transportFull()) {
      const c = this.unacked.get(this.retx.shift()!);
      if (!c || c.sacked) continue;
      c.sentAt = now;
      c.tries++;
      this.stats.retransmits++;
      if (!this.transmit(c.frame)) return;
    }
    const limit = this.base + Math.min(this.o.window, this.peerWindow);
    while (this.queue.length && this.nextSeq < limit && !this.transportFull()) {
      const head = this.queue[0]!;
      const size = Math.min(this.chunkSize, head.data.length - head.off);
      const last = head.off + size === head.data.length;
      const frame = new Uint8Array(HEADER + size);
      frame[0] = DATA;
      frame[1] = last ? END : 0;
      writeSeq(frame, 2, this.nextSeq);
      frame.set(head.data.subarray(head.off, head.off + size), HEADER);
      head.off += size;
      if (last) this.queue.shift();
      const c: Chunk = { seq: this.nextSeq++, frame, size, sentAt: now, firstSentAt: now, tries: 1, sacked: false };
      this.unacked.set(c.seq, c);
      if (!this.transmit(frame)) return;
    }
    this.stats.inFlight = this.unacked.size;
    if (this.unacked.size && !this.timer) this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => this.onTimer(), this.rto);
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.closed || !this.unacked.size) return;
    const now = Date.now();
    let expired = false;
    for (const c of this.unacked.values()) {
      if (c.sacked || now - c.sentAt < this.rto) continue;
      if (now - c.firstSentAt > this.o.deadAfterMs)
        return this.fail('E_LINK_TIMEOUT', `the peer acknowledged nothing for ${this.o.deadAfterMs} ms`);
      if (!this.retx.includes(c.seq)) this.retx.push(c.seq);
      expired = true;
    }
    // Back off on a timeout, as TCP does: the path may be congested rather than lossy.
    if (expired) this.rto = Math.min(this.o.maxRtoMs, this.rto * 2);
    this.pump();
    if (!this.timer && this.unacked.size) this.arm();
  }

  private onFrame(d: Uint8Array): void {
    if (this.closed) return;
    this.lastHeardAt = Date.now();
    this.framesHeard++;
    if (d.length < HEADER) return this.fail('E_BAD_FRAME', 'a frame shorter than its header');
    if (d[0] === DATA) this.rx.onData(d[1]!, readSeq(d, 2), d.subarray(HEADER));
    else if (d[0] === ACK) this.onAck(d);
    else this.fail('E_BAD_FRAME', `unknown frame type ${d[0]}`);
  }

  private sendAck(): void {
    if (!this.closed) this.transmit(this.rx.ackFrame());
  }

  private deliver(msg: Uint8Array): void {
    if (!this.msgCb) return void this.pending.push(msg);
    try {
      this.msgCb(msg);
    } catch (e) {
      this.fail('E_LINK_HANDLER', `a message handler threw: ${(e as Error).message}`);
    }
  }

  private onAck(f: Uint8Array): void {
    if (f.length < HEADER + 4 || (f.length - HEADER - 4) % 8) return this.fail('E_BAD_FRAME', 'a malformed ack');
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const cum = readSeq(f, 2);
    if (cum > this.nextSeq) return this.fail('E_BAD_FRAME', 'an ack for chunks never sent');
    this.peerWindow = Math.max(1, v.getUint32(HEADER));
    const now = Date.now();
    let sample = -1;
    for (; this.base < cum; this.base++) {
      const c = this.unacked.get(this.base);
      if (!c) continue;
      this.unacked.delete(this.base);
      this.stats.queuedBytes -= c.size;
      // Time only the chunk this ack answers, sent once (Karn) and not held behind a hole.
      if (c.seq === cum - 1 && c.tries === 1 && !c.sacked) sample = now - c.sentAt;
    }
    let highest = -1;
    for (let p = HEADER + 4; p < f.length; p += 8) {
      const from = cum + v.getUint32(p);
      const to = Math.min(from + v.getUint32(p + 4), this.nextSeq);
      for (let s = from; s < to; s++) {
        const c = this.unacked.get(s);
        if (!c || c.sacked) continue;
        c.sacked = true;
        if (c.tries === 1) sample = now - c.sentAt;
      }
      highest = Math.max(highest, to - 1);
    }
    if (sample >= 0) this.updateRtt(sample);
    // A chunk with three later chunks received, unanswered for a round trip, is lost.
    if (highest >= 0) {
      const wait = Math.max(2, this.srtt);
      for (let s = this.base; s < highest - 2; s++) {
        const c = this.unacked.get(s);
        if (c && !c.sacked && now - c.sentAt >= wait && !this.retx.includes(s)) this.retx.push(s);
      }
    }
    if (this.timer && sample >= 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.pump();
    if (this.idle()) this.flushWaiters.splice(0).forEach((w) => w());
    if (this.wantDrain && this.stats.queuedBytes < this.o.highWaterBytes) {
      this.wantDrain = false;
      this.drainCb();
    }
  }

  private updateRtt(sample: number): void {
    if (this.srtt === 0) {
      this.srtt = sample;
      this.rttvar = sample / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - sample);
      this.srtt = 0.875 * this.srtt + 0.125 * sample;
    }
    this.stats.srttMs = this.srtt;
    this.rto = Math.min(this.o.maxRtoMs, Math.max(this.o.minRtoMs, this.srtt + 4 * this.rttvar));
  }
}
