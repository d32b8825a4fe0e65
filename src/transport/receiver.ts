// The receiving half of the reliable stream: keeps chunks that arrive early (at most a
// window of them), hands whole messages up in order, and says what it has in its acks.
import { ACK, END, HEADER, MAX_SACK_RANGES, concat, writeSeq } from './frames.js';

export interface ReceiverHooks {
  deliver(msg: Uint8Array): void;
  ack(): void;
  fail(code: string, message: string): void;
  closed(): boolean;
}

export class Receiver {
  private expected = 0; // next seq to accept
  private readonly ooo = new Map<number, { flags: number; payload: Uint8Array }>();
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private ackDue = 0;
  private ackScheduled = false;

  constructor(
    private readonly window: number,
    private readonly maxMessageBytes: number,
    private readonly stats: { duplicates: number },
    private readonly hooks: ReceiverHooks,
  ) {}

  onData(flags: number, seq: number, payload: Uint8Array): void {
    if (seq < this.expected || this.ooo.has(seq)) {
      this.stats.duplicates++;
      return this.hooks.ack(); // our ack may have been lost
    }
    if (seq >= this.expected + this.window) return this.hooks.ack(); // beyond the window: not buffered
    if (seq > this.expected) {
      this.ooo.set(seq, { flags, payload });
      return this.hooks.ack(); // a hole: tell the sender at once
    }
    this.accept(flags, payload);
    for (let n = this.ooo.get(this.expected); n && !this.hooks.closed(); n = this.ooo.get(this.expected)) {
      this.ooo.delete(this.expected);
      this.accept(n.flags, n.payload);
    }
    if (++this.ackDue >= 8) this.hooks.ack();
    else if (!this.ackScheduled) {
      // Coalesce the acks of a burst of frames read in one turn of the event loop.
      this.ackScheduled = true;
      setImmediate(() => this.ackDue && this.hooks.ack());
    }
  }

  private accept(flags: number, payload: Uint8Array): void {
    this.expected++;
    if (this.partialBytes + payload.length > this.maxMessageBytes)
      return this.hooks.fail('E_MESSAGE_TOO_LARGE', `the peer sent a message over ${this.maxMessageBytes} bytes`);
    if (!(flags & END)) {
      this.partial.push(payload);
      this.partialBytes += payload.length;
      return;
    }
    let msg = payload;
    if (this.partial.length) {
      this.partial.push(payload);
      msg = concat(this.partial, this.partialBytes + payload.length);
      this.partial = [];
      this.partialBytes = 0;
    }
    this.hooks.deliver(msg);
  }

  /** Cumulative ack, our window, and up to MAX_SACK_RANGES ranges held beyond the cumulative ack. */
  ackFrame(): Uint8Array {
    this.ackDue = 0;
    this.ackScheduled = false;
    const ranges: number[] = [];
    let start = -1;
    const end = this.expected + this.window;
    for (let s = this.expected + 1; this.ooo.size && s < end && ranges.length < MAX_SACK_RANGES * 2; s++) {
      const has = this.ooo.has(s);
      if (has && start < 0) start = s;
      if (!has && start >= 0) (ranges.push(start - this.expected, s - start), (start = -1));
    }
    if (start >= 0 && ranges.length < MAX_SACK_RANGES * 2) ranges.push(start - this.expected, end - start);
    const f = new Uint8Array(HEADER + 4 + ranges.length * 4);
    const v = new DataView(f.buffer);
    f[0] = ACK;
    writeSeq(f, 2, this.expected);
    v.setUint32(HEADER, this.window);
    ranges.forEach((r, i) => v.setUint32(HEADER + 4 + i * 4, r));
    return f;
  }

  clear(): void {
    this.ooo.clear();
    this.partial = [];
    this.partialBytes = 0;
  }
}
