// The serving side of `xfer`: listings and file bytes for current members only, from served
// locations (or what `sd send` granted to that peer), under the receiver's credit, the link's
// backpressure and this device's bandwidth limit. Every chunk carries its BLAKE3; the end of a
// file carries the BLAKE3 of the whole file as read. A file written to while it is sent fails
// with E_SOURCE_CHANGED: the receiver never gets a mix of two versions.
import { SdError } from '../errors.js';
import { createBlake3, type Blake3 } from '../jobs/blake3.js';
import type { Library } from '../library/library.js';
import type { Port, PortServer, Request } from './port.js';
import { CHUNK, chunkFrames, chunksOf, setChunkHash, type MsgOf } from './protocol.js';
import type { RateLimit } from './limit.js';
import { Progress, type TransferBoard } from './status.js';
import { listServed, placeServed, SourceFile } from './source.js';

export interface ServeDeps {
  self: string;
  library(id: string): Library | undefined;
  /** On the library's roster and not revoked, now. */
  isMember(lib: Library, dev: string): boolean;
  /** The paths `sd send` granted to this peer under this id, if any. */
  grant(lib: Library, id: string, peer: string): string[] | undefined;
  limit: RateLimit;
  board: TransferBoard;
  /** A refused request, counted in `sd sync status` (and logged in aggregate). */
  refused(code: string, port: Port, detail: Record<string, unknown>): void;
  offer(port: Port, m: MsgOf<'offer'>): Promise<'accepted' | 'queued'>;
  dropped(port: Port, m: MsgOf<'dropped'>): void;
}

const MAX_STREAMS = 64;
/** A file of one chunk is hashed in one synchronous step (init, update, digest), so one hasher serves all. */
let chunkHasher: Blake3 | undefined;
/** How often (in chunks) a file being sent is checked for writes. */
const CHECK_EVERY = 8;
/**
 * A file being sent waits this long for the receiver's credit (or for the link to drain), then
 * ends (E_TRANSFER_STALLED): a peer that never gives any (or reads nothing, yet keeps the link up
 * with its heartbeats) would keep its slot, the open file, the board's entry and its memory hold
 * for as long as the link stays up. Five minutes: the receive limit is shared by every file a
 * device receives, and a receiver under a limit gives credit for each chunk (fetch.ts), so a few
 * big files at once stay under it down to some 10 KiB/s, as does a link that drains 2 MiB
 * between its water marks (transport/secure.ts) on a slow uplink. A hostile peer's hold stays
 * bounded by MAX_STREAMS per link.
 */
export const CREDIT_STALL_MS = 300_000;

interface Stream {
  credit: number;
  /** Waited the stall limit for credit in vain. */
  stalled: boolean;
  wake: (() => void) | undefined;
  stopped: boolean;
}

export class TransferServer implements PortServer {
  private readonly streams = new Map<Port, Map<number, Stream>>();
  /** Files sent so far: an outgoing transfer's id on the board (a peer's request ids are its own). */
  private sent = 0;
  /** How long a file waits for credit before it ends (tests shorten it). */
  stallMs = CREDIT_STALL_MS;

  constructor(private readonly deps: ServeDeps) {}

  onBadMessage(port: Port): void {
    this.deps.refused('E_BAD_FRAME', port, { what: 'an xfer message no schema accepts' });
  }

  onClose(port: Port): void {
    for (const s of this.streams.get(port)?.values() ?? []) this.stop(s);
    this.streams.delete(port);
  }

  onRequest(port: Port, m: Request): void {
    const streams = this.streams.get(port) ?? this.streams.set(port, new Map()).get(port)!;
    switch (m.t) {
      case 'credit': {
        const s = streams.get(m.rid);
        if (s) {
          s.credit = Math.min(s.credit + m.n, 64);
          s.wake?.();
        }
        return;
      }
      case 'stop': {
        const s = streams.get(m.rid);
        if (s) this.stop(s);
        return;
      }
      case 'dropped':
        return this.deps.dropped(port, m);
      case 'offer':
        return void this.deps.offer(port, m).then(
          (state) => this.answer(port, { t: 'offered', rid: m.rid, state }),
          (e: unknown) => this.fail(port, m.rid, e),
        );
      case 'list':
        try {
          const served = placeServed(this.authorize(port, m), this.deps.self, m.path, this.granted(port, m));
          const { items, skipped } = listServed(served);
          this.answer(port, { t: 'listing', rid: m.rid, items, skipped });
        } catch (e) {
          this.fail(port, m.rid, e, m.path);
        }
        return;
      case 'get': {
        if (streams.size >= MAX_STREAMS)
          return this.fail(port, m.rid, new SdError('E_BUSY', `more than ${MAX_STREAMS} files at once`));
        // A request id in use: the stream it names would lose its credit and stop to the new one.
        if (streams.has(m.rid)) {
          this.deps.refused('E_BAD_FRAME', port, { what: 'a request id already in use', path: m.path });
          return this.fail(port, m.rid, new SdError('E_BAD_FRAME', `request ${m.rid} is already in use on this link`));
        }
        const s: Stream = { credit: m.credit, stalled: false, wake: undefined, stopped: false };
        streams.set(m.rid, s);
        void this.send(port, m, s)
          .catch((e: unknown) => this.fail(port, m.rid, e, m.path))
          .finally(() => streams.delete(m.rid));
      }
    }
  }

  private stop(s: Stream): void {
    s.stopped = true;
    s.wake?.();
  }

  /** The library, if the peer is a current member of it (E_NOT_A_MEMBER otherwise). */
  private authorize(port: Port, m: { lib: string }): Library {
    const lib = this.deps.library(m.lib);
    if (!lib || !this.deps.isMember(lib, port.peer))
      throw new SdError('E_NOT_A_MEMBER', 'this device does not share that library with you (or you were revoked)');
    return lib;
  }

  private granted(port: Port, m: { lib: string; grant?: string | undefined }): string[] | undefined {
    if (m.grant === undefined) return undefined;
    const lib = this.authorize(port, m);
    const paths = this.deps.grant(lib, m.grant, port.peer);
    if (!paths) throw new SdError('E_NOT_SERVED', 'no such transfer was offered to you (or it ended)');
    return paths;
  }

  private answer(port: Port, m: Parameters<Port['send']>[0]): void {
    try {
      port.send(m);
    } catch {
      // the link closed: the receiver asks again on its next link
    }
  }

  private fail(port: Port, rid: number, e: unknown, path?: string): void {
    const code = e instanceof SdError ? e.code : 'E_INTERNAL';
    const message = e instanceof Error ? e.message : String(e);
    // A stall is not a refusal: an honest peer on a slow link can cause one.
    if (code === 'E_NOT_SERVED' || code === 'E_NOT_A_MEMBER') this.deps.refused(code, port, { path });
    this.answer(port, { t: 'fail', rid, code, message: message.slice(0, 1000) });
  }

  /** Waits for the receiver's credit (or a stop); E_TRANSFER_STALLED after stallMs without any. */
  private async credit(s: Stream, path: string): Promise<void> {
    const timer = setTimeout(() => {
      s.stalled = true;
      s.wake?.();
    }, this.stallMs);
    try {
      while (s.credit <= 0 && !s.stopped && !s.stalled) await new Promise<void>((r) => (s.wake = r));
    } finally {
      clearTimeout(timer);
      s.wake = undefined;
    }
    if (s.credit <= 0 && !s.stopped)
      throw new SdError(
        'E_TRANSFER_STALLED',
        `${path}: no credit came from the receiver for ${this.stallMs / 1000} s, so the source ended the transfer; run it again`,
      );
  }

  /** Waits for the link to drain; E_TRANSFER_STALLED after stallMs (a peer that reads nothing, yet sends). */
  private async drained(port: Port, path: string): Promise<void> {
    const stalled = new AbortController();
    const timer = setTimeout(() => stalled.abort(), this.stallMs);
    await port.drained(stalled.signal);
    clearTimeout(timer);
    if (stalled.signal.aborted)
      throw new SdError(
        'E_TRANSFER_STALLED',
        `${path}: the receiver read nothing for ${this.stallMs / 1000} s, so the source ended the transfer; run it again`,
      );
  }

  private async send(port: Port, m: MsgOf<'get'>, s: Stream): Promise<void> {
    const lib = this.authorize(port, m);
    const served = placeServed(lib, this.deps.self, m.path, this.granted(port, m));
    const file = SourceFile.open(served, m);
    const progress = this.deps.board.open(
      new Progress(`${port.peer.slice(0, 8)}:${++this.sent}`, 'out', port.peer, lib.id, file.size, 1),
    );
    progress.current = m.path;
    progress.state = 'sending';
    try {
      const n = chunksOf(file.size);
      // Each chunk carries the BLAKE3 of the file from its start through that chunk (link
      // protocol 6): a digest of the one hasher fed every byte read, in order, so each byte is
      // hashed once. A file of one chunk sent whole: the chunk's BLAKE3 is the file's.
      const whole = n > 1 || m.from > 0 ? await createBlake3(256) : undefined;
      const piece = (chunkHasher ??= await createBlake3(256));
      let last = '';
      const frames = chunkFrames();
      // A resumed file: the part the receiver holds is read and hashed here, not sent again.
      for (let i = 0; i < Math.min(m.from, n); i++) {
        if (s.stopped) return;
        whole!.update(await file.read(i * CHUNK, Math.min(CHUNK, file.size - i * CHUNK)));
      }
      if (m.from > 0) this.answer(port, { t: 'prefix', rid: m.rid, hash: whole!.digest() });
      progress.bytesDone = Math.min(file.size, m.from * CHUNK);
      for (let i = m.from; i < n; i++) {
        if (s.credit <= 0) await this.credit(s, m.path);
        if (s.stopped || port.closed) return;
        const len = Math.min(CHUNK, file.size - i * CHUNK);
        await this.deps.limit.take(len);
        const { frame, data } = frames(m.rid, i, len);
        await file.read(i * CHUNK, len, data);
        if (i % CHECK_EVERY === 0) file.checkUnchanged();
        if (whole) {
          whole.update(data);
          last = whole.digest();
        } else {
          piece.init();
          piece.update(data);
          last = piece.digest();
        }
        setChunkHash(frame, Buffer.from(last, 'hex'));
        s.credit--;
        if (!port.sendRaw(frame)) await this.drained(port, m.path);
        progress.add(len);
        this.deps.board.bytes.sent += len;
      }
      file.checkUnchanged();
      this.answer(port, { t: 'end', rid: m.rid, hash: whole ? whole.digest() : last });
    } finally {
      file.close();
      this.deps.board.close(progress);
    }
  }
}
