// The sending half of a feed session (feed.ts): for each feed the peer lacks, one stream from the
// seq it wants, in batches, with at most WINDOW of them unacknowledged (the backpressure); and
// one 'have' per device for what this library committed.
import { SdError } from '../errors.js';
import { stmt } from '../projections/types.js';
import type { Library } from '../library/library.js';
import { BATCH_EVENTS, type FeedMsg } from './feed-messages.js';

const BATCH_BYTES = 2 * 1024 * 1024;
const WINDOW = 4;

interface Outgoing {
  next: number;
  unacked: number;
  /** The highest seq the peer acknowledged in this session: it never needs it again. */
  acked: number;
  busy: boolean;
  /** The stream stopped at rows still waiting for their signatures: it goes on once they commit. */
  held?: boolean;
}

/** What the sender needs of its session. */
export interface FeedSenderHost {
  send(m: FeedMsg): void;
  /** Whether we hold a key for a device (counted as ignored when we do not). */
  known(dev: unknown): dev is string;
  closed(): boolean;
  readonly stats: { sent: number };
}

export class FeedSender {
  private readonly outgoing = new Map<string, Outgoing>();
  /** Heads committed here since the last 'have' went out (see announce). */
  private readonly toAnnounce = new Map<string, number>();
  private haveQueued = false;

  constructor(
    private readonly lib: Library,
    private readonly host: FeedSenderHost,
  ) {}

  /** A 'have' for an event this library committed (see FeedSession.announce). */
  announce(dev: string, seq: number): void {
    // A committed group is announced as one 'have' per device (its highest seq), not one per event:
    // the events of a group reach us in one synchronous run, so a microtask sees them all.
    if (seq > (this.toAnnounce.get(dev) ?? 0)) this.toAnnounce.set(dev, seq);
    if (this.toAnnounce.size > 0 && !this.haveQueued) {
      this.haveQueued = true;
      queueMicrotask(() => this.sendHaves());
    }
  }

  private sendHaves(): void {
    this.haveQueued = false;
    const list = [...this.toAnnounce];
    this.toAnnounce.clear();
    for (const [dev, seq] of list) {
      this.host.send({ t: 'have', dev, seq });
      const o = this.outgoing.get(dev);
      if (o?.held) this.pump(dev);
    }
  }

  /** Whether a stream of that feed was started in this session. */
  streams(dev: string): boolean {
    return this.outgoing.has(dev);
  }

  /** The peer acknowledged a batch of that feed's stream (see streams): the window moves on. */
  acked(dev: string, seq: number): void {
    const o = this.outgoing.get(dev);
    if (!o) return;
    o.acked = Math.max(o.acked, Math.min(seq, o.next - 1));
    o.unacked = Math.max(0, o.unacked - 1);
    this.pump(dev);
  }

  /** The peer refused an event of that feed. */
  refused(dev: string, seq: number): void {
    // The stream of that feed stopped there: a later want may start it again.
    const o = this.outgoing.get(dev);
    if (o && Number.isInteger(seq)) {
      o.unacked = 0;
      o.next = Math.max(o.acked + 1, Math.min(o.next, seq));
    }
  }

  /**
   * At the peer's first heads: the feeds it is behind on start now, without waiting for its want
   * (a round trip, and the peer's turn to read our heads). Only feeds it can check: its heads name
   * the device, or the device is us (a joiner holds our key from pairing). Each event is still
   * verified by the peer as any batch is; its want, when it comes, moves nothing already sent.
   */
  offer(peerHeads: Map<string, number>): void {
    const me = this.lib.log.deviceId;
    for (const [dev, ours] of this.lib.log.heads()) {
      const theirs = peerHeads.get(dev);
      if ((theirs === undefined && dev !== me) || ours <= (theirs ?? 0) || this.outgoing.has(dev)) continue;
      this.serve(dev, (theirs ?? 0) + 1);
    }
  }

  /**
   * Starts (or moves) the stream of one feed. A want never makes us send twice what the peer
   * acknowledged or what is already on its way: asking again cannot multiply our traffic.
   */
  serve(dev: string, from: number): void {
    if (!Number.isInteger(from) || from < 1) throw new SdError('E_BAD_FRAME', 'bad want');
    if (!this.host.known(dev)) return;
    const o = this.outgoing.get(dev);
    if (!o) {
      this.outgoing.set(dev, { next: from, unacked: 0, acked: from - 1, busy: false });
      return this.pump(dev);
    }
    if (from <= o.acked) throw new SdError('E_BAD_WANT', `${dev}#${from} was already acknowledged`);
    if (o.unacked > 0) o.next = Math.max(o.next, from);
    else o.next = from;
    this.pump(dev);
  }

  private pump(dev: string): void {
    const o = this.outgoing.get(dev);
    if (!o || o.busy || this.host.closed()) return;
    o.busy = true;
    try {
      const q = stmt(this.lib.db, 'SELECT bytes, sig FROM events WHERE dev = ? AND seq >= ? ORDER BY seq LIMIT ?');
      while (o.unacked < WINDOW) {
        // Rows of an open group still waiting for their signatures are not sent (not committed either).
        const room = Math.min(BATCH_EVENTS, this.lib.log.unsignedFrom(dev) - o.next);
        o.held = room <= 0;
        if (o.held) break;
        // Rows are read only until the batch is full: an index event is ~80 KiB, so reading `room`
        // rows at once read up to 40 MiB to send 2 (the whole rest of the feed, again for each batch).
        const list: [Uint8Array, Uint8Array][] = [];
        let size = 0;
        for (const r of q.iterate(dev, o.next, room) as IterableIterator<{ bytes: Buffer; sig: Buffer }>) {
          list.push([r.bytes, r.sig]); // Buffers of their own: packed as they are, no copy
          size += r.bytes.length;
          if (size > BATCH_BYTES) break; // ends the statement
        }
        if (list.length === 0) break;
        this.host.send({ t: 'events', dev, list });
        this.host.stats.sent += list.length;
        o.next += list.length;
        o.unacked++;
      }
    } finally {
      o.busy = false;
    }
  }
}
