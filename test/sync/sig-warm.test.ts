// The signature thread loads (~0.3 s) while a catch-up begins: a peer's heads that put us many
// events behind start it, so the first large batches are not all verified on the main thread.
import test from 'ava';
import { Core } from '../../src/core.js';
import { FeedSession } from '../../src/sync/feed.js';
import { PRE_VERIFY_MIN, sigThreadStarted, stopSigThread } from '../../src/sync/sig-pool.js';
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

test.serial('heads that put us a large batch behind start the signature thread before any batch arrives', async (t) => {
  const { a, la, heads } = await behind(t);
  await stopSigThread();
  la.write(() => {
    for (let i = 0; i < PRE_VERIFY_MIN + 10; i++) la.append('library.renamed', { name: `n${i}` });
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
