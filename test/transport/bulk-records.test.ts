// The record layer's two ciphers (link protocol 5): bulk messages (file chunks) in AES-256-GCM
// records under a key derived from the split, everything else in ChaCha20-Poly1305 records under
// the split's key, one record counter per direction for both. A record sealed under the wrong key,
// with the cipher bit flipped, with a byte flipped, replayed or skipped ahead is refused by name,
// and nothing of it is delivered.
import test from 'ava';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import sodium from 'sodium-universal';
import { SecureChannel } from '../../src/transport/secure.js';
import type { CloseReason, MessageTransport } from '../../src/transport/types.js';
import { memoryPair } from '../support/faulty.js';
import { until } from '../support/until.js';

const key = (): Uint8Array => new Uint8Array(randomBytes(32));
/** The AES key of a direction, computed here from the spec rather than by the code under test. */
const aesKeyOf = (split: Uint8Array): Buffer =>
  Buffer.from(hkdfSync('sha256', split, Buffer.alloc(0), Buffer.from('vdfs-link/5 aes-256-gcm'), 32));
/** A record's nonce says AES by the top bit of its 8th byte. */
const isAes = (rec: Uint8Array): boolean => (rec[7]! & 0x80) !== 0;

/** Records what the sender puts on the wire. */
function tapped(inner: MessageTransport, wire: Uint8Array[]): MessageTransport {
  return {
    kind: inner.kind,
    remoteAddress: inner.remoteAddress,
    get maxMessageSize() {
      return inner.maxMessageSize;
    },
    get closed() {
      return inner.closed;
    },
    send: (d) => (wire.push(new Uint8Array(d)), inner.send(d)),
    onMessage: (cb) => inner.onMessage(cb),
    onClose: (cb) => inner.onClose(cb),
    onDrain: (l, cb) => inner.onDrain(l, cb),
    bufferedAmount: () => inner.bufferedAmount(),
    close: (r) => inner.close(r),
  };
}

test('bulk messages go in AES-256-GCM records of up to a chunk each, others in ChaCha20-Poly1305 ones, all in order', async (t) => {
  const [ta, tb] = memoryPair(undefined, 2 * 1024 * 1024);
  const [k1, k2] = [key(), key()];
  const wire: Uint8Array[] = [];
  const tx = new SecureChannel(tapped(ta, wire), { tx: Uint8Array.from(k1), rx: Uint8Array.from(k2) });
  const rx = new SecureChannel(tb, { tx: Uint8Array.from(k2), rx: Uint8Array.from(k1) });
  t.teardown(() => (tx.close({ code: 'E_DONE', message: '' }), rx.close({ code: 'E_DONE', message: '' })));
  const got: Uint8Array[] = [];
  const fails: CloseReason[] = [];
  rx.onFail((r) => fails.push(r));
  tx.start([], () => undefined);
  rx.start([], (m) => got.push(m));
  // [size, bulk]: a chunk frame (1 MiB and its headers), a small message between, a small file's
  // chunk (bulk, but under the AES threshold), and a bulk message bigger than one record.
  const plan: [number, boolean][] = [
    [1024 * 1024 + 41, true],
    [40, false],
    [10_000, true],
    [100_000, false],
    [3 * 1024 * 1024 + 5, true],
    [0, true],
  ];
  const sent = plan.map(([n]) => new Uint8Array(randomBytes(n)));
  const records: boolean[][] = [];
  for (let i = 0; i < plan.length; i++) {
    const before = wire.length;
    tx.send([sent[i]!.subarray(0, 5), sent[i]!.subarray(5)], plan[i]![1]);
    records.push(wire.slice(before).map(isAes));
  }
  await until('every message', () => got.length === sent.length || fails.length > 0, 10_000);
  t.deepEqual(fails, []);
  for (let i = 0; i < sent.length; i++) t.true(Buffer.from(got[i]!).equals(Buffer.from(sent[i]!)), `message ${i}`);
  t.deepEqual(records, [[true], [false], [false], [false, false], [true, true, true], [false]]);
  // One counter for both ciphers: the records are numbered 0, 1, 2... whichever sealed them.
  t.deepEqual(
    wire.map((r) => Buffer.from(r).readUInt32LE(0)),
    wire.map((_r, i) => i),
  );
  t.is(new Set(got.map((m) => m.buffer)).size, got.length, 'each message in a buffer of its own');
});

/** A receiver, and a peer holding the session key that seals records however it likes. */
function forger(): {
  rx: SecureChannel;
  split: Uint8Array;
  got: Uint8Array[];
  failed: Promise<CloseReason>;
  inject(rec: Uint8Array): void;
} {
  const [ta, tb] = memoryPair(undefined, 2 * 1024 * 1024);
  const split = key();
  const rx = new SecureChannel(tb, { tx: key(), rx: Uint8Array.from(split) });
  const got: Uint8Array[] = [];
  const failed = new Promise<CloseReason>((r) => rx.onFail(r));
  rx.start([], (m) => got.push(m));
  return { rx, split, got, failed, inject: (rec) => ta.send(rec) };
}

/** A record of one message (flags 0): `n` with the AES bit if `aes`, sealed by `cipher` under `k`. */
function record(n: number, body: Uint8Array, aes: boolean, cipher: 'aes' | 'chacha', k: Uint8Array): Uint8Array {
  const plain = Buffer.concat([Uint8Array.of(0), body]);
  const rec = Buffer.alloc(8 + plain.length + 16);
  rec.writeUInt32LE(n, 0);
  rec.writeUInt32LE(aes ? 0x80000000 : 0, 4);
  const iv = Buffer.alloc(12);
  iv.set(rec.subarray(0, 8), 4);
  if (cipher === 'chacha') {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(rec.subarray(8), plain, null, null, iv, k);
    return rec;
  }
  const c = createCipheriv('aes-256-gcm', k, iv, { authTagLength: 16 });
  rec.set(c.update(plain), 8);
  c.final();
  rec.set(c.getAuthTag(), 8 + plain.length);
  return rec;
}

const big = (): Uint8Array => new Uint8Array(randomBytes(200_000));
const forgeries: [string, string, (split: Uint8Array) => Uint8Array[]][] = [
  [
    'an AES record under the ChaCha key (the split itself)',
    'E_FRAME_TAMPERED',
    (s) => [record(1, big(), true, 'aes', s)],
  ],
  [
    "an AES record under the other direction's AES key",
    'E_FRAME_TAMPERED',
    () => [record(1, big(), true, 'aes', aesKeyOf(key()))],
  ],
  [
    'a ChaCha record under the AES key',
    'E_FRAME_TAMPERED',
    (s) => [record(1, Buffer.from('x'), false, 'chacha', aesKeyOf(s))],
  ],
  [
    'an AES record with its cipher bit cleared',
    'E_FRAME_TAMPERED',
    (s) => {
      const r = record(1, big(), true, 'aes', aesKeyOf(s));
      r[7] = 0;
      return [r];
    },
  ],
  [
    'a ChaCha record with the cipher bit set',
    'E_FRAME_TAMPERED',
    (s) => {
      const r = record(1, Buffer.from('small'), false, 'chacha', s);
      r[7] = 0x80;
      return [r];
    },
  ],
  ...[8, 100_000, 200_008, 200_008 + 15].map((at): [string, string, (s: Uint8Array) => Uint8Array[]] => [
    `an AES record with byte ${at} flipped`,
    'E_FRAME_TAMPERED',
    (s) => {
      const r = record(1, big(), true, 'aes', aesKeyOf(s));
      r[at]! ^= 1;
      return [r];
    },
  ]),
  [
    'an AES record replayed',
    'E_FRAME_REPLAYED',
    (s) => {
      const r = record(1, big(), true, 'aes', aesKeyOf(s));
      return [r, r];
    },
  ],
  ['an AES record numbered ahead', 'E_FRAME_MISSING', (s) => [record(2, big(), true, 'aes', aesKeyOf(s))]],
];

test('a well-formed AES record from the peer opens', async (t) => {
  const f = forger();
  t.teardown(() => f.rx.close({ code: 'E_DONE', message: '' }));
  const body = big();
  f.inject(record(0, body, true, 'aes', aesKeyOf(f.split)));
  f.inject(record(1, Buffer.from('after'), false, 'chacha', f.split));
  await until('both messages', () => f.got.length === 2, 5000);
  t.true(Buffer.from(f.got[0]!).equals(Buffer.from(body)));
  t.is(Buffer.from(f.got[1]!).toString(), 'after');
});

for (const [what, code, make] of forgeries)
  test(`${what} is refused with ${code}; nothing of it is delivered`, async (t) => {
    const f = forger();
    t.teardown(() => f.rx.close({ code: 'E_DONE', message: '' }));
    f.inject(record(0, Buffer.from('before'), false, 'chacha', f.split));
    for (const r of make(f.split)) f.inject(r);
    const r = await f.failed;
    t.is(r.code, code, r.message);
    t.deepEqual(
      f.got.map((m) => (m.length === 6 ? Buffer.from(m).toString() : `${m.length} bytes`)),
      code === 'E_FRAME_REPLAYED' ? ['before', '200000 bytes'] : ['before'],
    );
  });
