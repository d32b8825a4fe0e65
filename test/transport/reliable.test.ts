import test from 'ava';
import { createHash } from 'node:crypto';
import { faulty, memoryPair, prng } from '../../src/transport/faulty.js';
import { ReliableStream } from '../../src/transport/reliable.js';

/** Deterministic message i: mostly small, some spanning several chunks. */
function message(rnd: () => number, i: number): Uint8Array {
  const r = rnd();
  const size = r < 0.9 ? Math.floor(rnd() * 2000) : Math.floor(rnd() * 300_000);
  const m = new Uint8Array(size + 4);
  new DataView(m.buffer).setUint32(0, i);
  for (let k = 4; k < m.length; k += 97) m[k] = (i * 31 + k) & 0xff;
  return m;
}

function pair(faults: Parameters<typeof faulty>[1], opts = {}) {
  const [ta, tb] = memoryPair('webrtc', 64 * 1024);
  const fa = faulty(ta, { ...faults, seed: 7 });
  const fb = faulty(tb, { ...faults, seed: 11 });
  const a = new ReliableStream(fa, { minRtoMs: 20, ...opts });
  const b = new ReliableStream(fb, { minRtoMs: 20, ...opts });
  return { a, b, fa, fb, close: () => (a.close('test over'), b.close('test over')) };
}

test('delivers 2,000 messages exactly once, in order, over 20% drop, duplicates and reordering', async (t) => {
  const { a, b, fa, fb, close } = pair({ drop: 0.2, duplicate: 0.1, reorder: 0.1 });
  t.teardown(close);
  const N = 2000;
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let count = 0;
  let outOfOrder = 0;
  const done = new Promise<void>((resolve) => {
    b.onMessage((m) => {
      if (new DataView(m.buffer, m.byteOffset).getUint32(0) !== count) outOfOrder++;
      got.update(m);
      if (++count === N) resolve();
    });
  });
  const rnd = prng(42);
  for (let i = 0; i < N; i++) {
    const m = message(rnd, i);
    sent.update(m);
    if (!a.send(m)) await new Promise<void>((r) => a.onDrain(r));
  }
  await done;
  await new Promise((r) => setTimeout(r, 50)); // a late duplicate would show up here
  t.is(count, N);
  t.is(outOfOrder, 0);
  t.is(got.digest('hex'), sent.digest('hex'));
  t.true(fa.faults.dropped > 100 && fb.faults.dropped > 10, 'the faults really happened');
  t.true(a.stats.retransmits > 0 && b.stats.duplicates > 0);
  t.log(
    `dropped ${fa.faults.dropped}/${fb.faults.dropped}, retransmits ${a.stats.retransmits}, duplicates seen ${b.stats.duplicates}`,
  );
});

test('reassembles a 16 MiB message and keeps the receiver within the window', async (t) => {
  const { a, b, close } = pair({ drop: 0.05, reorder: 0.05 }, { window: 32 });
  t.teardown(close);
  const big = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i >> 12;
  const got = new Promise<Uint8Array>((r) => b.onMessage(r));
  a.send(big);
  const m = await got;
  t.is(m.length, big.length);
  t.true(Buffer.from(m).equals(Buffer.from(big)));
});

test('send refuses over the queue limit and a message over the size limit', (t) => {
  const { a, close } = pair({}, { maxQueuedBytes: 1000, maxMessageBytes: 800, highWaterBytes: 500 });
  t.teardown(close);
  t.throws(() => a.send(new Uint8Array(900)), { message: /exceeds/ });
  t.is(a.send(new Uint8Array(600)), false, 'above the high-water mark');
  t.throws(() => a.send(new Uint8Array(600)), { message: /queue is full/ });
});

test('both sides see the close reason of the transport', async (t) => {
  const { a, b, close } = pair({});
  t.teardown(close);
  const rb = new Promise<string>((r) => b.onClose(r));
  const ra = new Promise<string>((r) => a.onClose(r));
  a.close('E_TEST: bye');
  t.is(await ra, 'E_TEST: bye');
  t.is(await rb, 'E_TEST: bye');
  t.throws(() => a.send(new Uint8Array(1)), { message: /closed/ });
});
