// Fuzz targets for the decoders that face hostile input: the RPC frame decoder and request
// validation, the feed-replication protocol of a peer, peer-link frames, and the peer handshake;
// and a differential one for the C hashing of content ids against the JavaScript hasher. Each run feeds
// fast-check inputs and fails on any escape other than a refusal; the caller checks that the
// target still works for an honest party afterwards.
import fc from 'fast-check';
import { initHashing } from '../src/events/hash.js';
import { generateKeys, keysFromPem } from '../src/events/keys.js';
import Noise from 'noise-handshake';
import curve from 'noise-curve-ed';
import { LINK_PROTOCOL } from '../src/transport/handshake.js';
import { openPeerLink } from '../src/transport/peer-link.js';
import type { CloseReason, MessageTransport } from '../src/transport/types.js';
import { Packr } from 'msgpackr';
import { FrameDecoder } from '../src/rpc/frame.js';
import { ClientMessage } from '../src/rpc/protocol.js';
import { SdError } from '../src/errors.js';
import { FeedSession } from '../src/sync/feed.js';
import { memoryChannelPair } from '../test/support/memory-channel.js';
import type { Library } from '../src/library/library.js';
import { hashInC } from '../src/jobs/io-batch.js';
import { createBlake3 } from '../src/jobs/blake3.js';

const packr = new Packr({ useRecords: false });

/** Random bytes and random msgpack values, including ones shaped like real messages. */
export function hostile(types: string[]): fc.Arbitrary<Uint8Array> {
  const field = fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(fc.oneof(fc.string(), fc.integer(), fc.uint8Array({ maxLength: 8 })), { maxLength: 5 }),
  );
  const shaped = fc.record(
    {
      t: fc.constantFrom(...types),
      dev: fc.oneof(fc.string(), field),
      seq: fc.oneof(fc.integer(), field),
      from: fc.oneof(fc.integer(), field),
      heads: fc.oneof(fc.array(fc.tuple(fc.string(), fc.integer()), { maxLength: 4 }), field),
      list: fc.oneof(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 })), { maxLength: 3 }),
        field,
      ),
    },
    { requiredKeys: ['t'] },
  );
  return fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    shaped.map((v) => packr.pack(v)),
    fc.anything().map((v) => {
      try {
        return packr.pack(v);
      } catch {
        return new Uint8Array([0xc1]);
      }
    }),
  );
}

/** RPC: the decoder only ever yields values or throws SdError, and never buffers past its limit. */
export function fuzzRpcDecoder(runs: number): { runs: number; refused: number; valid: number } {
  let refused = 0;
  let valid = 0;
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 6 }), (chunks) => {
      const d = new FrameDecoder({ maxFrame: 4096 });
      try {
        for (const c of chunks) for (const v of d.feed(c)) if (ClientMessage.safeParse(v).success) valid++;
      } catch (e) {
        if (!(e instanceof SdError)) throw e;
        refused++;
      }
      return d.pending <= 4096 + 4;
    }),
    { numRuns: runs },
  );
  return { runs, refused, valid };
}

/** Feed protocol: hostile messages to a session never throw out of it and never store anything. */
export async function fuzzFeed(
  lib: Library,
  runs: number,
): Promise<{ runs: number; rejected: Record<string, number> }> {
  const [evil, victim] = memoryChannelPair(
    () => 'evil',
    () => 'victim',
  );
  const session = new FeedSession(lib, victim);
  const before = lib.log.count();
  await fc.assert(
    fc.asyncProperty(hostile(['heads', 'have', 'want', 'events', 'ack', 'reject']), async (bytes) => {
      evil.send(bytes);
      await new Promise((r) => setImmediate(r));
      return true;
    }),
    { numRuns: runs },
  );
  evil.close();
  if (lib.log.count() !== before) throw new Error('a hostile message stored an event');
  return { runs, rejected: session.stats.rejected };
}

/** Stands for a real initiator's first message (a valid ephemeral key), made fresh for each run. */
const REAL_HELLO = new Uint8Array(0);

function realHello(): Uint8Array {
  const noise = new Noise('XX', true, curve.generateKeyPair(), { curve });
  noise.initialise(Buffer.from(`vdfs-link/${LINK_PROTOCOL}`));
  return packr.pack({ t: 'hello', v: LINK_PROTOCOL, noise: noise.send() });
}

/**
 * Hellos and proofs that pass the shape checks, and real hellos, so the Noise steps after the
 * first one are reached too.
 */
const wellFormed = fc.oneof(
  fc.constant(REAL_HELLO),
  fc
    .record({ v: fc.constantFrom(1, 2, 3), noise: fc.uint8Array({ minLength: 32, maxLength: 48 }) })
    .map((h) => packr.pack({ t: 'hello', ...h })),
  fc.uint8Array({ minLength: 64, maxLength: 120 }).map((noise) => packr.pack({ t: 'auth', noise })),
  fc
    .record({ code: fc.string({ maxLength: 50 }), reason: fc.string({ maxLength: 50 }) })
    .map((r) => packr.pack({ t: 'refuse', ...r })),
);

/** A transport driven by the fuzzer: it delivers the given messages, then the peer hangs up. */
function scripted(): MessageTransport & { deliver(m: Uint8Array): void; hangUp(): void } {
  let onMsg: (m: Uint8Array) => void = () => undefined;
  let onClose: (r: CloseReason) => void = () => undefined;
  let closed = false;
  return {
    kind: 'memory',
    maxMessageSize: 70_000,
    remoteAddress: 'fuzz',
    get closed() {
      return closed;
    },
    send: () => undefined,
    onMessage: (cb) => void (onMsg = cb),
    onClose: (cb) => void (onClose = cb),
    onDrain: () => undefined,
    bufferedAmount: () => 0,
    close() {
      closed = true;
    },
    deliver: (m) => onMsg(m),
    hangUp() {
      if (closed) return;
      closed = true;
      onClose({ code: 'E_LINK_CUT', message: 'the fuzzer hung up' });
    },
  };
}

/**
 * The peer handshake as a listener runs it (the Noise XX responder), fed hostile messages: it must
 * end in an SdError refusal (never a link, never another exception), whatever arrives.
 */
export async function fuzzHandshake(runs: number): Promise<{ runs: number; refused: Record<string, number> }> {
  await initHashing();
  const keys = keysFromPem(generateKeys().privatePem);
  const refused: Record<string, number> = {};
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(hostile(['hello', 'auth', 'refuse']), wellFormed), { minLength: 1, maxLength: 4 }),
      async (msgs) => {
        const t = scripted();
        // Settled into a value at once: a refusal may come before the last message is fed.
        const settled: Promise<unknown> = openPeerLink(t, {
          role: 'responder',
          privateKey: keys.privateKey,
          isAllowed: () => true,
          handshakeTimeoutMs: 2000,
        }).then(
          () => 'a link',
          (e: unknown) => e,
        );
        for (const m of msgs) {
          t.deliver(m === REAL_HELLO ? realHello() : m);
          await new Promise((r) => setImmediate(r));
        }
        t.hangUp();
        const e = await settled;
        if (!(e instanceof SdError)) throw e instanceof Error ? e : new Error(`no refusal: ${String(e)}`);
        refused[e.code] = (refused[e.code] ?? 0) + 1;
        return true;
      },
    ),
    { numRuns: runs },
  );
  return { runs, refused };
}

/**
 * Batches of inputs hashed in one C call (native/blake3-lanes.h, as an index job's files are)
 * against the JavaScript hasher, one by one: lengths cluster around the block (64), the chunk
 * (1,024) and powers of 2 of chunks, and reach past the sampled files' 56 KiB. Throws on the
 * first difference; `skipped` where this CPU does not hash in C.
 */
export async function fuzzHashLanes(
  runs: number,
): Promise<{ runs: number; inputs: number; bytes: number; skipped?: string }> {
  if (!hashInC([new Uint8Array(8)]))
    return {
      runs: 0,
      inputs: 0,
      bytes: 0,
      skipped: 'no C hashing here (no AVX2, not x86-64, or the library is not built)',
    };
  const js = await createBlake3(128);
  const edge = fc
    .tuple(fc.constantFrom(64, 1024, 2048, 4096, 8192, 16384, 32768, 65536), fc.integer({ min: -9, max: 9 }))
    .map(([n, d]) => n + d);
  const length = fc.oneof(fc.integer({ min: 8, max: 1100 }), fc.integer({ min: 8, max: 120_000 }), edge);
  const batch = fc.array(length, { minLength: 1, maxLength: 40 });
  let inputs = 0;
  let bytes = 0;
  let seed = 1;
  fc.assert(
    fc.property(batch, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (lengths, s) => {
      seed = s || 1;
      const bufs = lengths.map((n) => {
        const b = new Uint8Array(n);
        // Cheap varied bytes (xorshift): the kernels must not care what the bytes are.
        for (let i = 0; i < n; i++) {
          seed ^= seed << 13;
          seed ^= seed >>> 17;
          seed ^= seed << 5;
          b[i] = seed & 0xff;
        }
        return b;
      });
      const inC = hashInC(bufs)!;
      bufs.forEach((b, i) => {
        js.init();
        js.update(b);
        const want = js.digest();
        if (inC[i] !== want)
          throw new Error(
            `input ${i} of ${b.length} bytes in a batch of ${bufs.length}: C ${inC[i]}, JavaScript ${want}`,
          );
      });
      inputs += bufs.length;
      bytes += lengths.reduce((x, y) => x + y, 0);
    }),
    { numRuns: runs },
  );
  return { runs, inputs, bytes };
}
