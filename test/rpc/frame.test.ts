import test from 'ava';
import fc from 'fast-check';
import { SdError } from '../../src/errors.js';
import { FrameDecoder, decodeBody, encodeFrame } from '../../src/rpc/frame.js';

const values: unknown[] = [
  { id: 1, token: 'abc', op: 'echo', args: { nested: [1, 'two', null, true, { deep: 3.5 }] } },
  { bytes: Buffer.from([0, 1, 2, 250, 255]), view: new Uint8Array([9, 8, 7]) },
  'unicode: héllo wörld ✓ 🎉',
  [],
  {},
  -12345678901,
  2 ** 40,
  null,
];

function collect(decoder: FrameDecoder, chunk: Uint8Array): unknown[] {
  return [...decoder.feed(chunk)];
}

/** Binaries come back as Buffers; compare bytes, not classes. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bin: [...v] };
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

test('values round-trip through one frame each, binaries included', (t) => {
  const d = new FrameDecoder();
  for (const v of values) {
    const out = collect(d, encodeFrame(v));
    t.is(out.length, 1);
    t.deepEqual(normalize(out[0]), normalize(v));
  }
  const bin = collect(d, encodeFrame({ b: new Uint8Array([1, 2, 3]) }))[0] as { b: Uint8Array };
  t.true(bin.b instanceof Uint8Array);
  t.is(d.pending, 0);
});

test('a stream of frames split at every byte, and at random points, decodes the same', (t) => {
  const stream = Buffer.concat(values.map((v) => encodeFrame(v)));
  const byByte = new FrameDecoder();
  const out: unknown[] = [];
  for (let i = 0; i < stream.length; i++) out.push(...collect(byByte, stream.subarray(i, i + 1)));
  t.deepEqual(normalize(out), normalize(values));

  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 20 }), (cuts) => {
      const points = [0, ...[...cuts].sort((a, b) => a - b), stream.length];
      const d = new FrameDecoder();
      const got: unknown[] = [];
      for (let i = 1; i < points.length; i++) got.push(...collect(d, stream.subarray(points[i - 1], points[i])));
      t.deepEqual(normalize(got), normalize(values));
    }),
    { numRuns: 100 },
  );
});

test('an oversized length prefix throws E_FRAME_TOO_LARGE before any body arrives', (t) => {
  const d = new FrameDecoder({ maxFrame: 1024 });
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1025, 0);
  const e = t.throws(() => collect(d, prefix), { instanceOf: SdError });
  t.is(e?.code, 'E_FRAME_TOO_LARGE');
  t.is(d.pending, 0, 'nothing is kept for the claimed body');
  // The stream is out of sync after an error: it stays refused.
  t.is(t.throws(() => collect(d, encodeFrame('ok')))?.message, e?.message);

  const gib = new FrameDecoder();
  t.is(t.throws(() => collect(gib, Buffer.from([0x40, 0, 0, 0])), { instanceOf: SdError })?.code, 'E_FRAME_TOO_LARGE');
});

test('frames before a bad one are still delivered', (t) => {
  const d = new FrameDecoder({ maxFrame: 64 });
  const got: unknown[] = [];
  const bad = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  t.is(
    t
      .throws(() => {
        for (const v of d.feed(Buffer.concat([encodeFrame('a'), encodeFrame('b'), bad]))) got.push(v);
      })
      ?.message.includes('over the limit'),
    true,
  );
  t.deepEqual(got, ['a', 'b']);
});

test('undecodable bodies throw E_MALFORMED_FRAME', (t) => {
  const bodies = [
    Buffer.from([0xc1]),
    Buffer.from([0xc1, 0xc1]),
    Buffer.from('not msgpack at all'),
    Buffer.alloc(0),
    Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
  ];
  for (const body of bodies) {
    t.is(t.throws(() => decodeBody(body), { instanceOf: SdError })?.code, 'E_MALFORMED_FRAME', body.toString('hex'));
    const frame = Buffer.alloc(4 + body.length);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, 4);
    t.is(t.throws(() => collect(new FrameDecoder(), frame), { instanceOf: SdError })?.code, 'E_MALFORMED_FRAME');
  }
});

test('encodeFrame refuses a value over the limit', (t) => {
  t.is(t.throws(() => encodeFrame('x'.repeat(100), 50), { instanceOf: SdError })?.code, 'E_FRAME_TOO_LARGE');
});

test('random bytes only ever raise SdError and never buffer more than maxFrame + prefix', (t) => {
  const maxFrame = 4096;
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), (chunks) => {
      const d = new FrameDecoder({ maxFrame });
      for (const c of chunks) {
        try {
          for (const _ of d.feed(c)); // eslint-disable-line no-empty
        } catch (e) {
          if (!(e instanceof SdError)) throw e;
          return;
        }
        if (d.pending > maxFrame + 4) throw new Error(`holding ${d.pending} bytes`);
      }
    }),
    { numRuns: 500 },
  );
  // Random bodies behind honest prefixes reach msgpackr itself.
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (bodies) => {
      const d = new FrameDecoder({ maxFrame });
      for (const b of bodies) {
        const frame = Buffer.alloc(4 + b.length);
        frame.writeUInt32BE(b.length, 0);
        frame.set(b, 4);
        try {
          for (const _ of d.feed(frame)); // eslint-disable-line no-empty
        } catch (e) {
          if (!(e instanceof SdError)) throw e;
          return;
        }
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('fast-check found no counterexample'); // fc.assert throws (failing the test) if it does
});
