// The shared changes of a received batch are applied once per document at its end: a peer ends
// with the same tags as the device that made them, also when a roster change sits between them.
import test from 'ava';
import { Core } from '../../src/core.js';
import { FeedSession } from '../../src/sync/feed.js';
import { checksums } from '../../src/projections/index.js';
import { PlainDocs, RepoDocs } from '../../src/shared/provider.js';
import type { Library } from '../../src/library/library.js';
import { memoryChannelPair } from '../support/memory-channel.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

async function node(t: Parameters<typeof tempDir>[0]): Promise<Core> {
  const c = await Core.open(tempDir(t), { services: false });
  t.teardown(() => c.close());
  return c;
}

const headsEqual = (a: Library, b: Library): boolean =>
  JSON.stringify([...a.log.heads()].sort()) === JSON.stringify([...b.log.heads()].sort());

/** Calls that carried changes for the 'tags' document, on either kind of provider, while fn runs. */
async function countTagApplies(t: Parameters<typeof tempDir>[0], fn: () => Promise<void>): Promise<number> {
  let n = 0;
  for (const P of [PlainDocs, RepoDocs]) {
    const orig = P.prototype.apply;
    P.prototype.apply = function (this: PlainDocs & RepoDocs, name, changes) {
      if (name === 'tags' && changes.length) n++;
      return orig.call(this, name, changes);
    };
    t.teardown(() => void (P.prototype.apply = orig));
  }
  await fn();
  return n;
}

test.serial(
  'a batch of 40 tag events reaches the peer as one change of the tags document, with the same rows',
  async (t) => {
    const [a, b, c] = [await node(t), await node(t), await node(t)];
    const la = a.libraries.resolve();
    for (let i = 0; i < 20; i++) await a.command('tag.create', { name: `t${i}` });
    // A roster change between the tag events: the batch applies what it held before it.
    la.write(() => la.append('device.added', { dev: c.device.id, pubkey: c.device.publicKey, name: c.device.name }));
    for (let i = 20; i < 40; i++) await a.command('tag.create', { name: `t${i}` });
    la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: b.device.name }));
    la.flush();
    const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
    const applies = await countTagApplies(t, async () => {
      const [ea, eb] = memoryChannelPair(
        () => 'a',
        () => 'b',
      );
      t.teardown(() => ea.close());
      new FeedSession(la, ea).start();
      new FeedSession(lb, eb).start();
      await until('B caught up', () => headsEqual(la, lb), 30_000);
    });
    t.is((lb.db.prepare('SELECT COUNT(*) AS n FROM tags').get() as { n: number }).n, 40);
    t.is(checksums(lb.db).total, checksums(la.db).total, 'the same projections as the device that made them');
    t.true(applies <= 3, `40 events, ${applies} calls into Automerge for the tags document`);
  },
);
