// The record layer on its own (transport/secure.ts): messages of every size around a record's
// boundaries arrive whole, and a peer holding the session key that lies about a message's length
// (or its flags) is cut with a named error, with nothing of the message delivered.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import sodium from 'sodium-universal';
import { SecureChannel } from '../../src/transport/secure.js';
import type { CloseReason } from '../../src/transport/types.js';
import { memoryPair } from '../support/faulty.js';
import { until } from '../support/until.js';

/** A record's plaintext flags: more records follow; the first of several declares the length. */
const MORE = 1;
const LEN = 2;
/** The memory transport's 256 KiB messages are cut at Noise's limit: 65,535 - 16 (tag) - 1 (flags). */
const RECORD_DATA = 65535 - 16 - 1;

const key = (): Uint8Array => new Uint8Array(randomBytes(32));

function channels(): { tx: SecureChannel; rx: SecureChannel; got: Uint8Array[]; fails: CloseReason[] } {
  const [ta, tb] = memoryPair();
  const [k1, k2] = [key(), key()];
  const tx = new SecureChannel(ta, { tx: Uint8Array.from(k1), rx: Uint8Array.from(k2) });
  const rx = new SecureChannel(tb, { tx: Uint8Array.from(k2), rx: Uint8Array.from(k1) });
  const got: Uint8Array[] = [];
  const fails: CloseReason[] = [];
  rx.onFail((r) => fails.push(r));
  tx.start([], () => undefined);
  rx.start([], (m) => got.push(m));
  return { tx, rx, got, fails };
}

test('messages of every size around the record boundaries arrive whole, each in as few records as fit', async (t) => {
  const { tx, rx, got, fails } = channels();
  t.teardown(() => (tx.close({ code: 'E_DONE', message: '' }), rx.close({ code: 'E_DONE', message: '' })));
  const sizes = [0, 1, RECORD_DATA - 1, RECORD_DATA, RECORD_DATA + 1, RECORD_DATA * 2 - 4, RECORD_DATA * 2 - 3];
  sizes.push(1024 * 1024 + 41, 3 * 1024 * 1024 + 7);
  const sent = sizes.map((n) => new Uint8Array(randomBytes(n)));
  const records: number[] = [];
  for (const m of sent) {
    const before = tx.recordsSent;
    // Also given in parts, as the mux sends a frame's header and its data.
    tx.send([m.subarray(0, Math.min(5, m.length)), m.subarray(Math.min(5, m.length))]);
    records.push(tx.recordsSent - before);
  }
  await until('every message', () => got.length === sent.length || fails.length > 0, 10_000);
  t.deepEqual(fails, []);
  for (let i = 0; i < sent.length; i++) t.true(Buffer.from(got[i]!).equals(Buffer.from(sent[i]!)), `size ${sizes[i]}`);
  // A message that fits one record takes one; the first of several gives 4 bytes to the length.
  t.deepEqual(records.slice(0, 7), [1, 1, 1, 1, 2, 2, 3]);
  // The messages delivered are the receiver's own: reusing its buffers does not change them.
  t.is(new Set(got.map((m) => m.buffer)).size, got.length);
});

/** Seals records as a peer with the session's key could, with whatever flags and lengths it likes. */
function forger(): {
  rx: SecureChannel;
  send(flags: number, body: Uint8Array): void;
  got: Uint8Array[];
  failed: Promise<CloseReason>;
} {
  const [ta, tb] = memoryPair();
  const k = key();
  const rx = new SecureChannel(tb, { tx: key(), rx: Uint8Array.from(k) });
  const got: Uint8Array[] = [];
  const failed = new Promise<CloseReason>((r) => rx.onFail(r));
  rx.start([], (m) => got.push(m));
  let n = 0;
  const nonce = new Uint8Array(12);
  return {
    rx,
    got,
    failed,
    send(flags, body) {
      const plain = Buffer.concat([Uint8Array.of(flags), body]);
      const rec = Buffer.alloc(8 + plain.length + 16);
      rec.writeUInt32LE(n++, 0);
      nonce.set(rec.subarray(0, 8), 4);
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(rec.subarray(8), plain, null, null, nonce, k);
      ta.send(rec);
    },
  };
}

const declared = (total: number, data: number): Uint8Array => {
  const b = Buffer.alloc(4 + data, 7);
  b.writeUInt32LE(total, 0);
  return b;
};

const lies: [string, string, (f: ReturnType<typeof forger>['send']) => void][] = [
  ['a first record holding more than its declared length', 'E_BAD_FRAME', (s) => s(MORE | LEN, declared(100, 200))],
  [
    'a record running past the declared length',
    'E_BAD_FRAME',
    (s) => (s(MORE | LEN, declared(1000, 200)), s(0, Buffer.alloc(900))),
  ],
  [
    'a message ending short of its declared length',
    'E_BAD_FRAME',
    (s) => (s(MORE | LEN, declared(1000, 200)), s(0, Buffer.alloc(300))),
  ],
  [
    'more records announced after the declared length is full',
    'E_BAD_FRAME',
    (s) => (s(MORE | LEN, declared(1000, 200)), s(MORE, Buffer.alloc(800)), s(0, Buffer.alloc(0))),
  ],
  ['a length of 4 GiB', 'E_FRAME_TOO_LARGE', (s) => s(MORE | LEN, declared(0xffffffff, 100))],
  [
    'a message of several records without a length',
    'E_BAD_FRAME',
    (s) => (s(MORE, Buffer.alloc(100)), s(0, Buffer.alloc(1))),
  ],
  [
    'a length declared in the middle of a message',
    'E_BAD_FRAME',
    (s) => (s(MORE | LEN, declared(1000, 200)), s(MORE | LEN, declared(1000, 200))),
  ],
  ['a length on a message of one record', 'E_BAD_FRAME', (s) => s(LEN, declared(10, 10))],
  [
    'a first record with a length and no data',
    'E_BAD_FRAME',
    (s) => (s(MORE | LEN, declared(10, 0)), s(0, Buffer.alloc(10))),
  ],
  ['unknown flags', 'E_BAD_FRAME', (s) => s(4, Buffer.alloc(10))],
];

for (const [what, code, act] of lies)
  test(`a peer with the session key that sends ${what} is cut with ${code}; nothing of it is delivered`, async (t) => {
    const f = forger();
    t.teardown(() => f.rx.close({ code: 'E_DONE', message: '' }));
    f.send(0, Buffer.from('before'));
    act(f.send);
    const r = await f.failed;
    t.is(r.code, code, r.message);
    t.deepEqual(
      f.got.map((m) => Buffer.from(m).toString()),
      ['before'],
    );
  });

test('a record altered in transit inside a message of several is E_FRAME_TAMPERED, and the message is not delivered', async (t) => {
  const [ta, tb] = memoryPair();
  const [k1, k2] = [key(), key()];
  const tx = new SecureChannel(
    {
      ...ta,
      kind: ta.kind,
      maxMessageSize: ta.maxMessageSize,
      remoteAddress: ta.remoteAddress,
      get closed() {
        return ta.closed;
      },
      send: (d: Uint8Array) => {
        // The third record of the message: one byte of its ciphertext flipped.
        if (sends++ === 2) d[100] ^= 1;
        ta.send(d);
      },
      onMessage: (cb) => ta.onMessage(cb),
      onClose: (cb) => ta.onClose(cb),
      onDrain: (l, cb) => ta.onDrain(l, cb),
      bufferedAmount: () => ta.bufferedAmount(),
      close: (r) => ta.close(r),
    },
    { tx: Uint8Array.from(k1), rx: Uint8Array.from(k2) },
  );
  let sends = 0;
  const rx = new SecureChannel(tb, { tx: Uint8Array.from(k2), rx: Uint8Array.from(k1) });
  t.teardown(() => (tx.close({ code: 'E_DONE', message: '' }), rx.close({ code: 'E_DONE', message: '' })));
  const got: Uint8Array[] = [];
  const failed = new Promise<CloseReason>((r) => rx.onFail(r));
  tx.start([], () => undefined);
  rx.start([], (m) => got.push(m));
  tx.send(new Uint8Array(RECORD_DATA * 4));
  t.is((await failed).code, 'E_FRAME_TAMPERED');
  t.deepEqual(got, []);
});
