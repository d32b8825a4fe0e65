// Wire framing: a 4-byte big-endian body length, then one msgpack value.
// `msgpackr/pack` is msgpackr's plain-JavaScript entry: the CLI loads this module on every run, and
// the package's main entry also loads its native extension (looking for the C library first),
// about a fifth of `sd status`'s start. In the daemon both entries share the one unpacker module.
import { Packr, Unpackr } from 'msgpackr/pack';
import { SdError } from '../errors.js';

export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
const PREFIX = 4;

// Plain objects must round-trip (no records); cross-reference extensions are refused so a
// hostile frame cannot build shared or cyclic graphs; binaries are copied out of the input.
const options = { useRecords: false, structuredClone: false, mapsAsObjects: true, copyBuffers: true } as const;
const packr = new Packr(options);
const unpackr = new Unpackr(options);
// msgpackr's marker for the never-used 0xc1 byte (the plain entry's types do not name it).
const C1: unknown = new Unpackr().unpack(Uint8Array.of(0xc1));

/** Encodes one value as a frame. Throws E_FRAME_TOO_LARGE if the body would pass maxFrame. */
export function encodeFrame(value: unknown, maxFrame: number = DEFAULT_MAX_FRAME): Buffer {
  let body: Buffer;
  try {
    body = packr.pack(value);
  } catch (e) {
    throw new SdError('E_UNENCODABLE', `cannot encode the message: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (body.length > maxFrame) throw tooLarge(body.length, maxFrame);
  const out = Buffer.allocUnsafe(PREFIX + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, PREFIX);
  return out;
}

/** Decodes one frame body; anything msgpackr cannot make sense of is E_MALFORMED_FRAME. */
export function decodeBody(body: Uint8Array): unknown {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (e) {
    throw malformed(e instanceof Error ? e.message : String(e));
  }
  // msgpackr returns a marker object for the never-used 0xc1 byte instead of throwing.
  if (value === C1) throw malformed('the reserved byte 0xc1');
  return value;
}

function tooLarge(length: number, maxFrame: number): SdError {
  return new SdError('E_FRAME_TOO_LARGE', `a frame of ${length} bytes is over the limit of ${maxFrame} bytes`, {
    length,
    maxFrame,
  });
}

function malformed(why: string): SdError {
  return new SdError('E_MALFORMED_FRAME', `a frame body is not valid msgpack (${why})`);
}

export interface FrameDecoderOptions {
  maxFrame?: number;
}

/**
 * Turns a byte stream, fed in arbitrary chunks, back into values. It never holds more than one
 * partial frame plus the unread rest of the current chunk, and refuses an oversized length
 * prefix before reading any of its body. After an error the stream is out of sync, so every
 * later feed rethrows the same error.
 */
export class FrameDecoder {
  readonly maxFrame: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1; // body length of the frame being read, -1 while reading a prefix
  private failed: SdError | undefined;

  constructor(opts: FrameDecoderOptions = {}) {
    const max = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    if (!Number.isInteger(max) || max < 1 || max > 0xffffffff)
      throw new SdError('E_BAD_INPUT', `maxFrame must be an integer from 1 to 2^32-1, not ${max}`);
    this.maxFrame = max;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Takes a chunk (kept by reference until consumed: do not reuse its memory) and returns the
   * values it completes; iterating throws SdError at a bad frame, after the good ones before it.
   */
  feed(chunk: Uint8Array): Generator<unknown, void, undefined> {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    return this.drain();
  }

  private *drain(): Generator<unknown, void, undefined> {
    if (this.failed) throw this.failed;
    try {
      for (;;) {
        if (this.need < 0) {
          if (this.buffered < PREFIX) return;
          const length = this.take(PREFIX).readUInt32BE(0);
          if (length > this.maxFrame) throw tooLarge(length, this.maxFrame);
          this.need = length;
        }
        if (this.buffered < this.need) return;
        const body = this.take(this.need);
        this.need = -1;
        yield decodeBody(body);
      }
    } catch (e) {
      this.failed = e instanceof SdError ? e : malformed(e instanceof Error ? e.message : String(e));
      this.chunks = [];
      this.buffered = 0;
      throw this.failed;
    }
  }

  /** Removes exactly n buffered bytes (n <= buffered), copying only when a frame spans chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
