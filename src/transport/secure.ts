// Encrypted records after the handshake. Each record is one Noise transport message
// (ChaChaPoly-IETF from libsodium, keyed by the handshake's split) with its 64-bit nonce sent in
// front of it, as the Noise spec allows for explicit nonces and WireGuard does. The nonce only
// names the record: it is checked after the record authenticated, so a frame replayed or dropped
// in transit is named for what it is, and one that does not authenticate (a flipped byte, a
// frame of another session) is E_FRAME_TAMPERED. Any of them closes the link. A message larger
// than a record is cut into records (a "more" bit inside the encrypted plaintext) and rebuilt,
// up to a size limit. Bulk messages (file chunks) are sealed with AES-256-GCM instead, in
// records of up to a chunk each (see bulk.ts): the record's nonce says which cipher sealed it.
import sodium from 'sodium-universal';
import { SdError } from '../errors.js';
import {
  BULK_BIT,
  BULK_MIN,
  BULK_RECORD,
  bulkKeysOf,
  bulkSealer,
  openBulk,
  openChaCha,
  sealChaCha,
  type BulkKeys,
} from './ciphers.js';
import type { CloseReason, MessageTransport } from './types.js';

const NONCE = 8;
const TAG = 16;
/** The Noise spec's largest message: a record's ciphertext never exceeds it. */
const MAX_NOISE_MESSAGE = 65535;
const MORE = 1;
/** The first record of a message of several: a u32 (LE) with the message's length follows the flags. */
const LEN = 2;
const LEN_BYTES = 4;

export interface SecureOptions {
  /** Largest message accepted in either direction; bigger closes the link (E_FRAME_TOO_LARGE). */
  maxMessageBytes?: number;
  /** `send` returns false while the transport holds more than this. */
  highWaterBytes?: number;
  /** `send` throws E_LINK_QUEUE_FULL while the transport holds more than this. */
  maxQueuedBytes?: number;
}

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

let cleartext = false;
/**
 * Benches and tests only, never configurable: records are sent unencrypted (same framing and
 * checks), to measure what encryption costs, or to show a capture test can see names. Both ends
 * must be in the same process.
 */
export function setCleartextLinksForBench(on: boolean): void {
  cleartext = on;
}

export class SecureChannel {
  recordsSent = 0;
  recordsHeard = 0;
  private sendN = 0;
  private recvN = 0;
  private readonly sendNonce = new Uint8Array(12);
  private readonly recvNonce = new Uint8Array(12);
  /** The message being rebuilt (its declared length), and how much of it arrived. */
  private msg: Buffer | undefined;
  private msgAt = 0;
  private scratch = Buffer.alloc(0);
  private readonly chunk: number;
  private readonly bulkChunk: number;
  private bulk: BulkKeys | undefined;
  private readonly o: Required<SecureOptions>;
  private readonly plain = cleartext;
  private msgCb: (m: Uint8Array) => void = () => undefined;
  private closeCb: (r: CloseReason) => void = () => undefined;
  private drainCb: () => void = () => undefined;
  private failCb: ((r: CloseReason) => void) | undefined;
  private wantDrain = false;
  /** Set once a record failed or we said goodbye: nothing after it is read. */
  private broken = false;
  private transportClosed = false;
  private onTransportClosed: (() => void) | undefined;
  closedReason: CloseReason | undefined;

  constructor(
    readonly transport: MessageTransport,
    private readonly keys: { tx: Uint8Array; rx: Uint8Array },
    opts: SecureOptions = {},
  ) {
    this.o = {
      maxMessageBytes: MAX_MESSAGE_BYTES,
      highWaterBytes: 4 * 1024 * 1024,
      maxQueuedBytes: 64 * 1024 * 1024,
      ...opts,
    };
    this.chunk = Math.min(transport.maxMessageSize - NONCE, MAX_NOISE_MESSAGE) - TAG - 1;
    this.bulkChunk = Math.max(this.chunk, Math.min(transport.maxMessageSize - NONCE, BULK_RECORD) - TAG - 1);
    this.bulk = bulkKeysOf(keys);
    if (this.chunk < 64)
      throw new SdError('E_TRANSPORT', `messages of ${transport.maxMessageSize} bytes are too small`);
    transport.onClose((r) => {
      this.transportClosed = true;
      this.onTransportClosed?.();
      this.finish(r);
    });
    const lowWater = this.o.highWaterBytes >> 1;
    transport.onDrain(lowWater, () => {
      // A data channel reports the crossing from its own thread: by the time we hear of it the
      // buffer may have filled again, and then the next crossing is the one to wait for.
      if (this.closedReason !== undefined || !this.wantDrain || transport.bufferedAmount() > lowWater) return;
      this.wantDrain = false;
      this.drainCb();
    });
  }

  /** Starts reading: `early` (what came with the handshake) first, then the transport. */
  start(early: Uint8Array[], onMessage: (m: Uint8Array) => void): void {
    this.msgCb = onMessage;
    for (const r of early) this.receive(r);
    this.transport.onMessage((r) => this.receive(r));
  }

  onClose(cb: (r: CloseReason) => void): void {
    this.closeCb = cb;
  }

  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }

  /** Told when a received record fails; the owner closes (telling the peer why). Else we close. */
  onFail(cb: (r: CloseReason) => void): void {
    this.failCb = cb;
  }

  bufferedAmount(): number {
    return this.closedReason === undefined ? this.transport.bufferedAmount() : 0;
  }

  /**
   * Encrypts and sends one message, given whole or as parts sent back to back (a frame's header
   * and its data, never joined in a copy); false above the high-water mark. A `bulk` message goes
   * in AES-256-GCM records of up to BULK_RECORD bytes, others in ChaCha20-Poly1305 ones.
   */
  send(msg: Uint8Array | readonly Uint8Array[], bulk = false): boolean {
    const parts = msg instanceof Uint8Array ? [msg] : msg;
    let total = 0;
    for (const p of parts) total += p.length;
    if (this.closedReason !== undefined)
      throw new SdError('E_LINK_CLOSED', `the link is closed: ${this.closedReason.message}`);
    if (total > this.o.maxMessageBytes)
      throw new SdError('E_FRAME_TOO_LARGE', `a message of ${total} bytes is over ${this.o.maxMessageBytes}`);
    if (this.transport.bufferedAmount() > this.o.maxQueuedBytes)
      throw new SdError('E_LINK_QUEUE_FULL', `more than ${this.o.maxQueuedBytes} bytes wait for the network`);
    // A message of several records declares its length in the first one, after the flags.
    const aes = bulk && !this.plain && total >= BULK_MIN;
    const chunk = aes ? this.bulkChunk : this.chunk;
    const multi = total > chunk;
    const first = multi ? chunk - LEN_BYTES : total;
    const records = multi ? 1 + Math.ceil((total - first) / chunk) : 1;
    const perRecord = NONCE + 1 + (this.plain ? 0 : TAG);
    // All the records of a message are cut from one buffer: one allocation, not one per record.
    const slab = Buffer.allocUnsafe(records * perRecord + (multi ? LEN_BYTES : 0) + total);
    let sent = 0;
    let part = 0;
    let at = 0;
    let pos = 0;
    do {
      const len = sent === 0 ? first : Math.min(chunk, total - sent);
      const head = sent === 0 && multi ? LEN_BYTES : 0;
      // The record is built where it is sealed: flag and plaintext land in its buffer, which
      // ChaCha20 then encrypts in place; AES-GCM encrypts each part on its way in (one copy of
      // the message either way, not two).
      const rec = slab.subarray(pos, pos + perRecord + head + len);
      const gcm = this.number(rec, aes);
      rec[NONCE] = (sent + len < total ? MORE : 0) | (head ? LEN : 0);
      if (head) rec.writeUInt32LE(total, NONCE + 1);
      if (gcm) rec.set(gcm.update(rec.subarray(NONCE, NONCE + 1 + head)), NONCE);
      for (let filled = 0; filled < len;) {
        const p = parts[part]!;
        const n = Math.min(len - filled, p.length - at);
        const src = p.subarray(at, at + n);
        rec.set(gcm ? gcm.update(src) : src, NONCE + 1 + head + filled);
        filled += n;
        at += n;
        if (at === p.length) [part, at] = [part + 1, 0];
      }
      if (gcm) gcm.finish(rec.length - TAG);
      else if (!this.plain) sealChaCha(this.keys.tx, rec, 1 + head + len, this.sendNonce);
      this.transport.send(rec);
      this.recordsSent++;
      pos += rec.length;
      sent += len;
    } while (sent < total);
    if (this.transport.bufferedAmount() < this.o.highWaterBytes) return true;
    this.wantDrain = true;
    return false;
  }

  /** Writes the record's nonce (the next of this direction); for an AES record, its sealer. */
  private number(rec: Buffer, aes: boolean): ReturnType<typeof bulkSealer> | undefined {
    const n = this.sendN++;
    rec.writeUInt32LE(n % 0x100000000, 0);
    rec.writeUInt32LE((Math.floor(n / 0x100000000) | (aes ? BULK_BIT : 0)) >>> 0, 4);
    return aes ? bulkSealer(this.bulk!.tx, rec) : undefined;
  }

  private receive(rec: Uint8Array): void {
    if (this.closedReason !== undefined || this.broken) return;
    this.recordsHeard++;
    const overhead = NONCE + (this.plain ? 0 : TAG);
    if (rec.length < overhead + 1) return this.fail('E_FRAME_TAMPERED', 'a record too short to authenticate');
    const view = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    const high = view.getUint32(4, true);
    const aes = !this.plain && (high & BULK_BIT) !== 0;
    const n = view.getUint32(0, true) + (aes ? high - BULK_BIT : high) * 0x100000000;
    const bodyLen = rec.length - overhead;
    // A ChaCha record inside a message is opened straight into the message's buffer: its flag byte
    // lands on the byte before its place (the previous record's last one, set aside and put back).
    // Others are opened into a reused buffer. An AES record opens into a buffer of its own (the
    // message itself, when it is one record), copied into its message's if it is part of one.
    const msg = this.msg;
    const fits = msg !== undefined && bodyLen - 1 <= msg.length - this.msgAt;
    let body: Uint8Array | undefined;
    let flags = -1;
    if (aes) body = openBulk(this.bulk!.rx, rec);
    else {
      const at = fits ? this.msgAt - 1 : -1;
      if (at >= 0) body = msg!.subarray(at, at + bodyLen);
      else {
        if (this.scratch.length < bodyLen) this.scratch = Buffer.allocUnsafe(bodyLen);
        body = this.scratch.subarray(0, bodyLen);
      }
      const kept = at >= 0 ? msg![at]! : 0;
      if (this.plain) body.set(rec.subarray(NONCE));
      if (!this.plain && !openChaCha(this.keys.rx, body, rec, this.recvNonce)) body = undefined;
      else if (at >= 0) {
        flags = body[0]!;
        msg![at] = kept;
      }
    }
    if (!body)
      return this.fail(
        'E_FRAME_TAMPERED',
        'a record failed authentication: altered in transit, or from another session',
      );
    if (flags < 0) flags = body[0]!;
    // Authentic from here on: the nonce says which record it is.
    if (n < this.recvN)
      return this.fail('E_FRAME_REPLAYED', `record ${n} arrived again (record ${this.recvN} was next)`);
    if (n > this.recvN)
      return this.fail('E_FRAME_MISSING', `record ${this.recvN} never arrived (record ${n} came instead)`);
    this.recvN++;
    if (flags & ~(MORE | LEN)) return this.fail('E_BAD_FRAME', 'a record with unknown flags');
    if (msg) {
      if (!fits) return this.fail('E_BAD_FRAME', `a message runs past the ${msg.length} bytes it declared`);
      if (flags & LEN) return this.fail('E_BAD_FRAME', 'a length declared inside a message');
      if (aes) msg.set(body.subarray(1), this.msgAt);
      this.msgAt += bodyLen - 1;
      if (flags & MORE) {
        if (this.msgAt === msg.length)
          return this.fail('E_BAD_FRAME', `a message runs past the ${msg.length} bytes it declared`);
        return;
      }
      if (this.msgAt !== msg.length)
        return this.fail('E_BAD_FRAME', `a message ended after ${this.msgAt} of the ${msg.length} bytes it declared`);
      this.msg = undefined;
      return this.msgCb(msg);
    }
    if (!(flags & MORE)) {
      if (flags & LEN) return this.fail('E_BAD_FRAME', 'a length declared by a message of one record');
      if (bodyLen - 1 > this.o.maxMessageBytes)
        return this.fail('E_FRAME_TOO_LARGE', `the peer sent a message over ${this.o.maxMessageBytes} bytes`);
      return this.msgCb(aes ? body.subarray(1) : Buffer.from(body.subarray(1)));
    }
    if (!(flags & LEN) || bodyLen <= 1 + LEN_BYTES)
      return this.fail('E_BAD_FRAME', "a message's first record without its length or its data");
    const total = Buffer.from(body.buffer, body.byteOffset + 1, LEN_BYTES).readUInt32LE(0);
    if (total > this.o.maxMessageBytes)
      return this.fail('E_FRAME_TOO_LARGE', `the peer sent a message over ${this.o.maxMessageBytes} bytes`);
    const part = body.subarray(1 + LEN_BYTES);
    if (total <= part.length)
      return this.fail('E_BAD_FRAME', `a message declared ${total} bytes and its first record holds more`);
    this.msg = Buffer.allocUnsafe(total);
    this.msg.set(part);
    this.msgAt = part.length;
  }

  /** Resolves once the transport has written everything (or the timeout passed). */
  async flush(timeoutMs = 1000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.closedReason === undefined && this.transport.bufferedAmount() > 0 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 5));
  }

  private fail(code: string, message: string): void {
    this.broken = true;
    this.msg = undefined;
    if (this.failCb) this.failCb({ code, message });
    else this.close({ code, message });
  }

  /**
   * Ends the session; the keys are wiped. With `lingerMs`, the transport stays open until the
   * peer closes it (having read our goodbye) or that time passed: closing at once could lose the
   * goodbye on a transport whose close overtakes data (a data channel's close can).
   */
  close(reason: CloseReason, lingerMs = 0): void {
    this.finish(reason);
    this.broken = true;
    if (lingerMs <= 0 || this.transportClosed) return this.transport.close(reason);
    const timer = setTimeout(() => this.transport.close(reason), lingerMs);
    timer.unref();
    this.onTransportClosed = () => clearTimeout(timer);
  }

  private finish(reason: CloseReason): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.msg = undefined;
    sodium.sodium_memzero(this.keys.tx);
    sodium.sodium_memzero(this.keys.rx);
    this.bulk = undefined;
    this.closeCb(reason);
  }
}
