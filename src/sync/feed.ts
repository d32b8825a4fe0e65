// Feed replication over one channel to one peer, for one library: "tell me what you have, I
// send what you lack". Each side announces its per-device heads; the side that is behind asks
// for the missing range; events stream in order in batches, each acknowledged (a window of
// batches in flight is the backpressure). The receiver verifies signature, chain and roster
// before it appends, and appends a batch in one transaction, so a cut link resumes from what
// was stored: nothing arrived is sent again, nothing is assumed delivered.
import { SdError } from '../errors.js';
import { pack } from '../events/codec.js';
import { checkBatch } from './check-batch.js';
import { preVerify, PRE_VERIFY_MIN, warmSigThread, type PreVerified } from './sig-pool.js';
import type { Library } from '../library/library.js';
import type { SyncChannel } from './channel.js';
import { codeOf } from '../error-codes.js';
import { BulkStreams } from './bulk-index.js';
import { BATCH_EVENTS, MAX_HEADS, decodeFeedMsg, type FeedMsg } from './feed-messages.js';
import { FeedSender } from './feed-sender.js';

/** Bytes a peer may send us per second on one feed session, on average (bursts up to twice that). */
export const FEED_BYTES_PER_SECOND = 64 * 1024 * 1024;

export interface FeedStats {
  received: number;
  sent: number;
  rejected: Record<string, number>;
  /** Mentions of devices we hold no key for (not members of the library here): ignored. */
  ignored: number;
  lastError: string | null;
}

export interface FeedProgress {
  /** 'heads': the peer's heads arrived; 'batch': a batch was stored or acknowledged. */
  kind: 'heads' | 'batch';
  heardHeads: boolean;
}

export interface FeedOptions {
  /** false: the caller announces committed events itself (announce()); true: the session listens. */
  selfAnnounce?: boolean;
  onProgress?: (p: FeedProgress) => void;
}

export class FeedSession {
  readonly stats: FeedStats = { received: 0, sent: 0, rejected: {}, ignored: 0, lastError: null };
  private readonly wanted = new Map<string, number>();
  /** Feeds this session stopped asking for after a hostile or revoked event. */
  private readonly blocked = new Set<string>();
  private peerHeads = new Map<string, number>();
  private heardHeads = false;
  /** Messages waiting behind a batch whose signatures the other thread is checking. */
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private budget = 2 * FEED_BYTES_PER_SECOND;
  private budgetAt = performance.now();
  private readonly unsubscribe: () => void;
  private readonly onProgress: (p: FeedProgress) => void;
  private readonly bulk: BulkStreams;
  private readonly sender: FeedSender;

  constructor(
    private readonly lib: Library,
    private readonly ch: SyncChannel,
    private readonly onProtocolError: (err: SdError) => void = () => undefined,
    opts: FeedOptions = {},
  ) {
    this.onProgress = opts.onProgress ?? (() => undefined);
    this.bulk = new BulkStreams(lib);
    this.sender = new FeedSender(lib, {
      send: (m) => this.send(m),
      known: (dev): dev is string => this.known(dev),
      closed: () => this.closed,
      stats: this.stats,
    });
    ch.onMessage((bytes) => this.receive(bytes));
    ch.onClose(() => this.close());
    // Whatever this library appends or receives is announced, so feeds relay transitively. In the
    // daemon the session actor calls announce() with the events the log committed.
    this.unsubscribe = opts.selfAnnounce === false ? () => undefined : lib.onEvent((ev) => this.announce(ev));
  }

  /** Tells the peer about an event this library committed (and asks again once a device joins). */
  announce(ev: { dev: string; seq: number; type: string }): void {
    if (ev.type === 'device.added') {
      // Events refused for an unknown key may now pass: ask again, and tell the peer.
      this.wantAll();
      this.sendHeads();
    }
    this.sender.announce(ev.dev, ev.seq);
  }

  start(): void {
    this.sendHeads();
  }

  /** Events the peer holds and we lack, and the other way round, as far as we know. */
  balance(): { behind: number; ahead: number } {
    let behind = 0;
    let ahead = 0;
    for (const f of this.lag()) {
      behind += Math.max(0, f.theirs - f.ours);
      ahead += Math.max(0, f.ours - f.theirs);
    }
    return { behind, ahead };
  }

  /** Per device: how far the peer is behind (+) or ahead (-) of us, as far as we know. */
  lag(): { dev: string; ours: number; theirs: number }[] {
    const ours = this.lib.log.heads();
    const devs = new Set([...ours.keys(), ...this.peerHeads.keys()]);
    return [...devs].sort().map((dev) => ({ dev, ours: ours.get(dev) ?? 0, theirs: this.peerHeads.get(dev) ?? 0 }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.bulk.close();
  }

  private send(m: FeedMsg): void {
    if (this.closed) return;
    try {
      this.ch.send(pack(m));
    } catch (e) {
      this.stats.lastError = (e as Error).message;
    }
  }

  private sendHeads(): void {
    this.send({ t: 'heads', heads: [...this.lib.log.heads()] });
  }

  /** A token bucket on inbound bytes: a peer cannot make us verify and store without bound. */
  private spend(bytes: number): boolean {
    const now = performance.now();
    this.budget = Math.min(
      2 * FEED_BYTES_PER_SECOND,
      this.budget + ((now - this.budgetAt) / 1000) * FEED_BYTES_PER_SECOND,
    );
    this.budgetAt = now;
    this.budget -= bytes;
    return this.budget >= 0;
  }

  /** Whether we hold a key for a device: heads, wants and feeds of anyone else are ignored. */
  private known(dev: unknown): dev is string {
    if (typeof dev === 'string' && this.lib.keyOf(dev) !== undefined) return true;
    this.stats.ignored++;
    return false;
  }

  private receive(bytes: Uint8Array): void {
    if (this.closed || !this.lib.db.open) return;
    if (!this.spend(bytes.length))
      return this.protocolError(
        new SdError('E_RATE_LIMIT', `the peer sent more than ${FEED_BYTES_PER_SECOND >> 20} MiB/s`),
      );
    let m: FeedMsg;
    try {
      m = decodeFeedMsg(bytes);
    } catch (e) {
      return this.protocolError(new SdError('E_BAD_FRAME', `undecodable feed message: ${(e as Error).message}`));
    }
    // A large batch's signatures are checked on the other thread from now on; this message and
    // every one after it wait their turn, so the peer's messages are still handled in order.
    let pre: Promise<PreVerified | undefined> | undefined;
    if (
      m.t === 'events' &&
      Array.isArray(m.list) &&
      m.list.length >= PRE_VERIFY_MIN &&
      m.list.length <= 4 * BATCH_EVENTS
    ) {
      const pubkey = typeof m.dev === 'string' ? this.lib.keyOf(m.dev)?.pubkey : undefined;
      if (pubkey && m.list.every((x) => Array.isArray(x) && x[0] instanceof Uint8Array && x[1] instanceof Uint8Array))
        pre = preVerify(pubkey, m.list);
    }
    if (!pre && this.queued === 0) return this.handle(m);
    const msg = m;
    this.queued++;
    this.tail = this.tail.then(async () => {
      const hint = pre ? await pre : undefined;
      this.queued--;
      if (!this.closed && this.lib.db.open) this.handle(msg, hint);
      // The next batch waits a turn of the event loop: the ack just sent reaches the peer and the
      // peer's next batch reaches the other thread while we store this one, not after the queue.
      if (msg.t === 'events' && this.queued > 0) await new Promise((r) => setImmediate(r));
    });
    this.tail = this.tail.catch((e: unknown) => void (this.stats.lastError = (e as Error).message));
  }

  private handle(m: FeedMsg, pre?: PreVerified): void {
    try {
      switch (m.t) {
        case 'heads':
          if (!Array.isArray(m.heads) || m.heads.length > MAX_HEADS)
            throw new SdError('E_BAD_FRAME', `a heads message lists at most ${MAX_HEADS} devices`);
          this.peerHeads = new Map(
            m.heads.filter(
              (h): h is [string, number] => Array.isArray(h) && Number.isInteger(h[1]) && this.known(h[0]),
            ),
          );
          // Our own first announcement may have been sent before the peer listened: answer once.
          if (!this.heardHeads) {
            this.heardHeads = true;
            this.sendHeads();
            this.sender.offer(this.peerHeads);
          }
          // A catch-up of full batches has them checked on the other thread: it loads meanwhile.
          if (this.balance().behind >= BATCH_EVENTS) warmSigThread();
          this.wantAll();
          this.onProgress({ kind: 'heads', heardHeads: true });
          return;
        case 'have':
          if (!this.known(m.dev) || !Number.isInteger(m.seq)) return;
          this.peerHeads.set(m.dev, Math.max(m.seq, this.peerHeads.get(m.dev) ?? 0));
          this.maybeWant(m.dev, m.seq);
          return this.onProgress({ kind: 'batch', heardHeads: this.heardHeads });
        case 'want':
          return this.sender.serve(m.dev, m.from);
        case 'ack': {
          if (!this.sender.streams(m.dev) || !Number.isInteger(m.seq)) return;
          this.peerHeads.set(m.dev, Math.max(m.seq, this.peerHeads.get(m.dev) ?? 0));
          this.sender.acked(m.dev, m.seq);
          return this.onProgress({ kind: 'batch', heardHeads: this.heardHeads });
        }
        case 'events':
          return this.apply(m.dev, m.list, pre);
        case 'reject': {
          this.stats.lastError = `peer refused ${String(m.dev).slice(0, 40)}#${m.seq}: ${String(m.code).slice(0, 40)}`;
          return this.sender.refused(m.dev, m.seq);
        }
        default:
          return this.protocolError(new SdError('E_BAD_FRAME', 'unknown feed message'));
      }
    } catch (e) {
      this.protocolError(e instanceof SdError ? e : new SdError('E_BAD_FRAME', (e as Error).message));
    }
  }

  private protocolError(e: SdError): void {
    this.stats.lastError = `${e.code}: ${e.message}`;
    this.stats.rejected[e.code] = (this.stats.rejected[e.code] ?? 0) + 1;
    this.onProtocolError(e);
  }

  private wantAll(): void {
    for (const [dev, seq] of this.peerHeads) this.maybeWant(dev, seq);
  }

  /** Asks for what we lack, unless a stream for that feed is under way (it runs to their head). */
  private maybeWant(dev: string, theirs: number): void {
    const mine = this.lib.log.headOf(dev).seq;
    if (theirs <= mine || this.wanted.has(dev) || this.blocked.has(dev)) return;
    this.wanted.set(dev, theirs);
    this.send({ t: 'want', dev, from: mine + 1 });
  }

  /**
   * Verifies a batch against the keys and the chain, then appends it in one transaction. Events of a
   * revoked device past its cut are stored like any other and have no effect (the projection says
   * so): which revocation counts can change as earlier ones arrive, and every device must end up
   * holding the same events to compute the same roster. A revoked device cannot link to anyone.
   */
  private apply(dev: string, list: [Uint8Array, Uint8Array][], pre?: PreVerified): void {
    if (
      !this.known(dev) ||
      !Array.isArray(list) ||
      list.length > 4 * BATCH_EVENTS ||
      !list.every((x) => Array.isArray(x) && x[0] instanceof Uint8Array && x[1] instanceof Uint8Array)
    )
      throw new SdError('E_BAD_FRAME', 'an events message holds [bytes, signature] pairs of a known device');
    const { accepted, refusal, head } = checkBatch(this.lib, dev, list, pre);
    if (accepted.length) {
      this.bulk.before(dev, accepted);
      // A batch is already a group: committed at once, and the other links hear of it.
      this.lib.commitAlone(() => this.lib.appendRemoteAll(accepted));

      this.stats.received += accepted.length;
    }
    if (refusal || head.seq >= (this.wanted.get(dev) ?? 0)) this.wanted.delete(dev);
    this.bulk.after(dev, !!refusal || head.seq >= (this.peerHeads.get(dev) ?? 0));
    if (refusal) {
      this.stats.rejected[refusal.code] = (this.stats.rejected[refusal.code] ?? 0) + 1;
      this.stats.lastError = `${refusal.code}: ${dev}#${refusal.seq}: ${refusal.reason}`;
      this.send({ t: 'reject', dev, ...refusal });
      // An unknown key may become known (its device.added arrives in another feed): then we ask again.
      if (refusal.code !== 'E_UNKNOWN_DEVICE') {
        this.blocked.add(dev);
        this.onProtocolError(new SdError(codeOf(refusal.code, 'E_BAD_EVENT'), this.stats.lastError));
      }
      return;
    }
    this.send({ t: 'ack', dev, seq: head.seq });
    const theirs = this.peerHeads.get(dev) ?? 0;
    if (theirs > head.seq) this.maybeWant(dev, theirs);
    this.onProgress({ kind: 'batch', heardHeads: this.heardHeads });
  }
}
