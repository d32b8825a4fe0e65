// Test transports: an in-memory pair, and a wrapper that plays an on-path attacker or a bad
// network on what a transport sends: it flips a byte, drops, replays or reorders a message,
// goes silent, cuts, records, or injects bytes of its own.
import type { CloseReason, MessageTransport, TransportKind } from '../../src/transport/types.js';

/** mulberry32: a tiny deterministic PRNG, returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class MemoryEnd implements MessageTransport {
  peer!: MemoryEnd;
  closed = false;
  readonly remoteAddress = 'memory';
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private scheduled = false;
  private msgCb: ((d: Uint8Array) => void) | undefined;
  private early: Uint8Array[] = [];
  private closeCb: (r: CloseReason) => void = () => {};
  private drainCb: () => void = () => {};

  constructor(
    readonly kind: TransportKind,
    readonly maxMessageSize: number,
  ) {}

  send(data: Uint8Array): void {
    if (this.closed) throw new Error('memory transport closed');
    if (data.length > this.maxMessageSize)
      throw new Error(`message of ${data.length} bytes exceeds ${this.maxMessageSize}`);
    // Copy, as a socket would: the sender may reuse its buffer.
    this.peer.deliverLater(new Uint8Array(data));
  }

  private deliverLater(data: Uint8Array): void {
    this.inbox.push(data);
    this.inboxBytes += data.length;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.inbox.splice(0);
      this.inboxBytes = 0;
      for (const m of batch) if (!this.closed) this.deliver(m);
      if (!this.peer.closed) this.peer.drainCb();
    });
  }

  private deliver(m: Uint8Array): void {
    if (this.msgCb) this.msgCb(m);
    else this.early.push(m);
  }

  onMessage(cb: (d: Uint8Array) => void): void {
    this.msgCb = cb;
    for (const m of this.early.splice(0)) if (!this.closed) cb(m);
  }
  onClose(cb: (r: CloseReason) => void): void {
    this.closeCb = cb;
  }
  onDrain(_lowWater: number, cb: () => void): void {
    this.drainCb = cb;
  }
  /** What we sent that the peer has not read yet: it grows while the receiver's turn has not come. */
  bufferedAmount(): number {
    return this.peer.inboxBytes;
  }
  close(reason: CloseReason = { code: 'E_LINK_CLOSED', message: 'closed' }): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCb(reason);
    // After what is already on its way, like a socket's FIN.
    setImmediate(() => setImmediate(() => this.peer.remoteClosed()));
  }
  private remoteClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCb({ code: 'E_LINK_CUT', message: 'the peer closed the connection' });
  }
}

/** Two connected in-memory transports; delivery is asynchronous, like a socket's. */
export function memoryPair(
  kind: TransportKind = 'memory',
  maxMessageSize = 256 * 1024,
): [MessageTransport, MessageTransport] {
  const a = new MemoryEnd(kind, maxMessageSize);
  const b = new MemoryEnd(kind, maxMessageSize);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** What happens to the next message: a flipped byte, dropped, sent twice, held back one, or swapped for other bytes. */
export type Fault = 'flip' | 'drop' | 'replay' | 'reorder' | { replace: Uint8Array };

export interface FaultyTransport extends MessageTransport {
  /** The next messages sent get these faults, one each (null lets one through untouched). */
  arm(...faults: (Fault | null)[]): void;
  /** Drops everything in both directions without closing (a peer that went silent). */
  silence(on: boolean): void;
  /** Closes the inner transport abruptly, as a pulled cable would (no goodbye). */
  cut(): void;
  /** Every message sent, as it went on the wire. */
  readonly sent: Uint8Array[];
  /** Sends raw bytes past the link layers (an attacker's own frame). */
  inject(data: Uint8Array): void;
  readonly inner: MessageTransport;
}

/** Wraps a transport so that what it sends can be tampered with, deterministically. */
export function faulty(inner: MessageTransport): FaultyTransport {
  let silent = false;
  const armed: (Fault | null)[] = [];
  let held: Uint8Array | undefined;
  const sent: Uint8Array[] = [];
  const put = (d: Uint8Array): void => {
    sent.push(d);
    inner.send(d);
  };
  return {
    inner,
    kind: inner.kind,
    get maxMessageSize() {
      return inner.maxMessageSize;
    },
    remoteAddress: inner.remoteAddress,
    get closed() {
      return inner.closed;
    },
    sent,
    arm: (...f) => void armed.push(...f),
    silence: (on) => void (silent = on),
    cut: () => inner.close({ code: 'E_LINK_CUT', message: 'the cable was pulled' }),
    inject: (d) => inner.send(d),
    send(data) {
      if (silent) return;
      const fault = armed.shift();
      if (fault === 'drop') return;
      if (fault && typeof fault === 'object') return put(fault.replace);
      if (fault === 'flip') {
        const copy = new Uint8Array(data);
        copy[copy.length >> 1]! ^= 0x01;
        return put(copy);
      }
      if (fault === 'reorder') return void (held = new Uint8Array(data));
      put(data);
      if (fault === 'replay') put(new Uint8Array(data));
      if (held) {
        const h = held;
        held = undefined;
        put(h);
      }
    },
    onMessage: (cb) => inner.onMessage((d) => silent || cb(d)),
    onClose: (cb) => inner.onClose(cb),
    onDrain: (low, cb) => inner.onDrain(low, cb),
    bufferedAmount: () => inner.bufferedAmount(),
    close: (reason) => inner.close(reason),
  };
}
