// Test transports: an in-memory pair, and a wrapper that drops, duplicates, reorders, goes
// silent or cuts, deterministically from a seed, so loss recovery can be tested without a network.
import type { MessageTransport, TransportKind } from './types.js';

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
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private scheduled = false;
  private msgCb: (d: Uint8Array) => void = () => {};
  private closeCb: (r: string) => void = () => {};
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
      for (const m of batch) if (!this.closed) this.msgCb(m);
      if (!this.peer.closed) this.peer.drainCb();
    });
  }

  onMessage(cb: (d: Uint8Array) => void): void {
    this.msgCb = cb;
  }
  onClose(cb: (r: string) => void): void {
    this.closeCb = cb;
  }
  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }
  bufferedAmount(): number {
    return this.peer.inboxBytes;
  }
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCb(reason);
    setImmediate(() => this.peer.remoteClosed(reason));
  }
  private remoteClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCb(reason);
  }
}

/** Two connected in-memory transports; delivery is asynchronous, like a socket's. */
export function memoryPair(
  kind: TransportKind = 'lan-ws',
  maxMessageSize = 256 * 1024,
): [MessageTransport, MessageTransport] {
  const a = new MemoryEnd(kind, maxMessageSize);
  const b = new MemoryEnd(kind, maxMessageSize);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export interface FaultOptions {
  /** Probability that an outgoing message is dropped. */
  drop?: number;
  /** Probability that an outgoing message is sent twice. */
  duplicate?: number;
  /** Probability that an outgoing message is held back and sent after a later one. */
  reorder?: number;
  seed?: number;
}

export interface FaultyTransport extends MessageTransport {
  /** Drops everything in both directions without closing (a peer that went silent). */
  silence(on: boolean): void;
  /** Closes the inner transport abruptly, as a pulled cable would (no goodbye). */
  cut(reason?: string): void;
  readonly faults: { dropped: number; duplicated: number; reordered: number };
  setFaults(opts: FaultOptions): void;
}

/** Wraps a transport so that what it sends suffers the given faults. */
export function faulty(inner: MessageTransport, opts: FaultOptions = {}): FaultyTransport {
  let o = { drop: 0, duplicate: 0, reorder: 0, ...opts };
  const rnd = prng(opts.seed ?? 1);
  const faults = { dropped: 0, duplicated: 0, reordered: 0 };
  let silent = false;
  let held: Uint8Array | undefined;
  let heldTimer: NodeJS.Timeout | undefined;
  const release = (): void => {
    if (heldTimer) clearTimeout(heldTimer);
    heldTimer = undefined;
    const h = held;
    held = undefined;
    if (h && !inner.closed) inner.send(h);
  };
  return {
    kind: inner.kind,
    maxMessageSize: inner.maxMessageSize,
    get closed() {
      return inner.closed;
    },
    faults,
    setFaults: (n) => void (o = { drop: 0, duplicate: 0, reorder: 0, ...n }),
    silence: (on) => void (silent = on),
    cut: (reason = 'cut') => {
      release();
      inner.close(reason);
    },
    send(data) {
      if (silent) return;
      if (rnd() < o.drop) return void faults.dropped++;
      const copies = rnd() < o.duplicate ? (faults.duplicated++, 2) : 1;
      for (let i = 0; i < copies; i++) {
        if (!held && rnd() < o.reorder) {
          faults.reordered++;
          // Held until the next send overtakes it, or briefly if none comes.
          held = new Uint8Array(data);
          heldTimer = setTimeout(release, 5);
          continue;
        }
        inner.send(data);
        if (held) release();
      }
    },
    onMessage: (cb) => inner.onMessage((d) => silent || cb(d)),
    onClose: (cb) => inner.onClose(cb),
    onDrain: (cb) => inner.onDrain(cb),
    bufferedAmount: () => inner.bufferedAmount(),
    close(reason) {
      if (heldTimer) clearTimeout(heldTimer);
      held = undefined;
      inner.close(reason);
    },
  };
}
