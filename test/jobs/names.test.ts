import test from 'ava';
import fc from 'fast-check';
import { decodeName, encodeName, isEscapedName } from '../../src/jobs/names.js';

test('valid UTF-8 names are kept as is', (t) => {
  for (const s of ['plain.txt', 'café', '日本語', '100%', 'emoji 😀']) t.is(encodeName(Buffer.from(s)), s);
});

test('invalid bytes are escaped readably and decode back', (t) => {
  const raw = Buffer.from([0x66, 0xff, 0x6f]);
  t.is(encodeName(raw), '\uFFFDf%FFo');
  t.true(isEscapedName(encodeName(raw)));
  t.deepEqual(decodeName('\uFFFDf%FFo'), raw);
  t.is(encodeName(Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9, 0x25, 0x80])), '\uFFFDcafé%25%80');
});

test('encode/decode is a bijection on arbitrary byte names', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
      const raw = Buffer.from(bytes);
      const name = encodeName(raw);
      return decodeName(name).equals(raw) && Buffer.from(name, 'utf8').toString('utf8') === name;
    }),
    { numRuns: 2000 },
  );
  // Names starting with the marker must not collide with escaped ones.
  const a = encodeName(Buffer.from('\uFFFDf%FFo'));
  const b = encodeName(Buffer.from([0x66, 0xff, 0x6f]));
  t.not(a, b);
  t.deepEqual(decodeName(a), Buffer.from('\uFFFDf%FFo'));
});
