// A catch-up's pipeline: the signature thread loads (~0.3 s) while the catch-up begins (a peer's
// heads that put us a full batch behind start it), and the batches queued behind the thread's
// answers are stored one event-loop turn apart, so each ack goes out before the next is stored.
import test from 'ava';
import { Core } from '../../src/core.js';
import { BATCH_EVENTS } from '../../src/sync/feed-messages.js';
import { FeedSession } from '../../src/sync/feed.js';
import { sigThreadReady, sigThreadStarted, stopSigThread, warmSigThread } from '../../src/sync/sig-pool.js';
import { pack, unpack } from '../../src/events/codec.js';
import { memoryChannelPair } from '../support/memory-channel.js';
import type { Library } from '../../src/library/library.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

async function node(t: Parameters<typeof tempDir>[0]): Promise<Core> {
  const c = await Core.open(tempDir(t), { services: false });
  t.teardown(() => c.close());
  return c;
}

/**
 * B, a member of A's library holding nothing of A's feed; `heads` opens a new feed session of B's
 * and hands it heads as A would, resolving once the session answered with its own (it read ours).
 */
async function behind(
  t: Parameters<typeof tempDir>[0],
): Promise<{ a: Core; la: Library; lb: Library; heads: (h: [string, number][]) => Promise<void> }> {
  const [a, b] = [await node(t), await node(t)];
  const la = a.libraries.resolve();
  la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: b.device.name }));
  la.flush();
  const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
  const heads = async (h: [string, number][]): Promise<void> => {
    const [peer, mine] = memoryChannelPair(
      () => 'a',
      () => 'b',
    );
    t.teardown(() => peer.close());
    const session = new FeedSession(lb, mine);
    let answered = false;
    peer.onMessage((bytes) => void ((unpack(bytes) as { t: string }).t === 'heads' && (answered = true)));
    peer.send(pack({ t: 'heads', heads: h }));
    await until('B answered our heads', () => answered, 10_000);
    session.close();
  };
  return { a, la, lb, heads };
}

test.serial('heads that put us a full batch behind start the signature thread before any batch arrives', async (t) => {
  const { a, la, heads } = await behind(t);
  await stopSigThread();
  la.write(() => {
    for (let i = 0; i < BATCH_EVENTS; i++) la.append('library.renamed', { name: `n${i}` });
  });
  la.flush();
  t.false(sigThreadStarted());
  await heads([[a.device.id, la.log.headOf(a.device.id).seq]]);
  t.true(sigThreadStarted(), 'started at the heads, with no events sent');
});

test.serial(
  'heads a few events ahead, or far ahead on a device we hold no key for, leave the thread off',
  async (t) => {
    const { a, la, lb, heads } = await behind(t);
    await stopSigThread();
    const mine = lb.log.headOf(a.device.id).seq;
    await heads([[a.device.id, mine + 5]]);
    t.false(sigThreadStarted(), 'five events are verified in place');
    await heads([
      [a.device.id, mine + 5],
      ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1_000_000],
    ]);
    t.false(sigThreadStarted(), 'a device off the roster is ignored');
    t.true(la.log.headOf(a.device.id).seq > 0);
  },
);

test.serial(
  'batches queued behind the thread are stored a turn apart: the first ack reaches the peer before the next batch is stored',
  async (t) => {
    const { a, la, lb } = await behind(t);
    const before = lb.log.headOf(a.device.id).seq;
    la.write(() => {
      for (let i = 0; i < 300; i++) la.append('library.renamed', { name: `n${i}` });
    });
    la.flush();
    const list = la.db
      .prepare('SELECT bytes, sig FROM events WHERE dev = ? AND seq > ? ORDER BY seq')
      .all(a.device.id, before) as { bytes: Buffer; sig: Buffer }[];
    t.is(list.length, la.log.headOf(a.device.id).seq - before);
    const [peer, mine] = memoryChannelPair(
      () => 'a',
      () => 'b',
    );
    t.teardown(() => peer.close());
    new FeedSession(lb, mine);
    const heldAtAck: number[] = [];
    peer.onMessage((bytes) => {
      if ((unpack(bytes) as { t: string }).t === 'ack') heldAtAck.push(lb.log.headOf(a.device.id).seq);
    });
    t.true(await sigThreadReady(), 'the signature thread runs');
    const batches = [0, 1, 2].map((k) => list.slice(k * 100, k === 2 ? undefined : (k + 1) * 100));
    for (const b of batches) peer.send(pack({ t: 'events', dev: a.device.id, list: b.map((r) => [r.bytes, r.sig]) }));
    // B takes the three batches and hands them to the thread; its answers all wait while this thread is busy.
    await new Promise((r) => setImmediate(r));
    for (const end = Date.now() + 300; Date.now() < end;);
    await until('three acks', () => heldAtAck.length === 3, 10_000);
    t.is(heldAtAck[0], before + 100, 'the first ack was read before the second batch was stored');
    t.is(lb.log.headOf(a.device.id).seq, la.log.headOf(a.device.id).seq);
  },
);

test.serial(
  'a loaded thread warmed again (heads claiming a long lag, true or not) still ends after 5 s idle',
  async (t) => {
    await stopSigThread();
    t.true(await sigThreadReady());
    // A peer may claim any lag in its heads: the warm-up must not keep the thread for good.
    warmSigThread();
    t.true(sigThreadStarted());
    await new Promise((r) => setTimeout(r, 6_000));
    t.false(sigThreadStarted(), 'ended after its idle time');
  },
);
