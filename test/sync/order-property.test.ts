// Property: the projections are a function of the set of events, not of their arrival order.
// Four devices (a creator, two admins that revoke each other, a hostile member that is revoked
// mid-way and goes on writing) make a history with tags, renames, locations and entries, and
// hostile events of every kind. Fresh devices then receive that history in random interleavings
// (each feed in order, as the feed protocol delivers it) and in random batches: their checksums
// are equal, and equal to a replay of what they hold.
import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { FeedSession } from '../../src/sync/feed.js';
import { memoryChannelPair } from '../support/memory-channel.js';
import { checksums } from '../../src/projections/index.js';
import { newLocationId } from '../../src/projections/rules.js';
import { replayCheck } from '../../src/projections/replay.js';
import { deviceIdOf, generateKeys, keysFromPem } from '../../src/events/keys.js';
import { Library } from '../../src/library/library.js';
import type { StoredEvent } from '../../src/events/log.js';
import { forge } from '../support/forge.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

/** Builds the history once: real commands where a device would run them, forged events elsewhere. */
async function history(t: Parameters<typeof tempDir>[0]): Promise<{ lib: string; feeds: StoredEvent[][] }> {
  const cores: Core[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await Core.open(tempDir(t), { services: false });
    t.teardown(() => c.close());
    cores.push(c);
  }
  const [a, b, c, h] = cores as [Core, Core, Core, Core];
  const la = a.libraries.resolve();
  const lib = la.id;
  for (const x of [b, c, h])
    la.write(() => la.append('device.added', { dev: x.device.id, pubkey: x.device.publicKey, name: x.device.name }));
  const libs: Library[] = [la];
  for (const x of [b, c, h]) libs.push(await x.libraries.join(lib, { dev: a.device.id, pubkey: a.device.publicKey }));
  const [, lb, lc, lh] = libs as [Library, Library, Library, Library];
  const links: (() => void)[] = [];
  const connectAll = (): void => {
    for (let i = 0; i < 4; i++)
      for (let j = i + 1; j < 4; j++) {
        const ends = memoryChannelPair(
          () => String(i),
          () => String(j),
        );
        new FeedSession(libs[i]!, ends[0]).start();
        new FeedSession(libs[j]!, ends[1]).start();
        links.push(() => ends[0].close());
      }
  };
  const cutAll = (): void => void links.splice(0).forEach((close) => close());
  t.teardown(cutAll);
  const heads = (l: Library): string => JSON.stringify([...l.log.heads()].sort());
  const level = (): Promise<void> => until('level', () => libs.every((l) => heads(l) === heads(la)));
  connectAll();
  await level();
  await Promise.all(libs.map((l) => l.sharedOpening));
  const on = { library: lib };
  await a.command('library.rename', { name: 'family' });
  await a.command('tag.create', { name: 'red' });
  await a.command('device.role', { device: b.device.id, role: 'admin' });
  await a.command('device.role', { device: c.device.id, role: 'admin' });
  // A location of A's with entries, and one of C's.
  const locA = newLocationId(a.device.id);
  const locC = newLocationId(c.device.id);
  const now = 1_790_000_000_000;
  la.write(() => {
    la.append('location.added', { id: locA, path: '/home/a', name: 'a', watch: false, rules: {} });
    la.append('entries.upserted', {
      loc: locA,
      e: [
        ['docs', 1, 0, now, 1, 'folder'],
        ['docs\u0001x.txt', 0, 3, now, 2, 'text'],
        ['y.jpg', 0, 9, now, 3, 'image'],
      ],
    });
    la.append('entries.identified', { loc: locA, ids: [['y.jpg', 'c'.repeat(32), 'image', 9]] });
  });
  lc.write(() => {
    lc.append('location.added', { id: locC, path: '/home/c', name: 'c', watch: false, rules: {} });
    lc.append('entries.upserted', { loc: locC, e: [['z.txt', 0, 1, now, 4, 'text']] });
  });
  await level();
  // Concurrent edits while cut off from each other.
  cutAll();
  await b.command('tag.create', { name: 'blue' }, on);
  const red = (la.db.prepare("SELECT id FROM tags WHERE name = 'red'").get() as { id: string }).id;
  await b.command('tag.rename', { tag: red, name: 'crimson' }, on);
  await c.command('tag.rename', { tag: red, name: 'scarlet' }, on);
  await b.command('library.rename', { name: 'by-b' }, on);
  await c.command('library.rename', { name: 'by-c' }, on);
  const ghost = keysFromPem(generateKeys().privatePem);
  lb.write(() => lb.append('device.added', { dev: ghost.id, pubkey: ghost.publicKey, name: 'ghost' }));
  // The hostile member, in its own feed.
  const H = h.device;
  forge(lh, H, 'location.added', { id: locA, path: '/etc', name: 'etc', watch: true, rules: {} });
  forge(lh, H, 'entries.upserted', { loc: locA, e: [['planted', 0, 1, now, 9, 'text']] });
  forge(lh, H, 'entries.deleted', { loc: locC, keys: ['z.txt'] });
  const fake = randomBytes(32);
  forge(lh, H, 'library.created', {
    id: lib,
    name: 'hijacked',
    creator: { dev: a.device.id, pubkey: fake, name: 'x' },
    nonce: 'n'.repeat(16),
    v: 2,
  });
  forge(lh, H, 'device.added', { dev: deviceIdOf(fake), pubkey: fake, name: 'planted' });
  forge(lh, H, 'device.revoked', { dev: b.device.id, upTo: 0 });
  forge(lh, H, 'library.renamed', { name: 'far future' }, { ms: 8.64e15, c: 0 });
  forge(lh, H, 'x.unknown', { any: 'thing' });
  forge(lh, H, 'library.renamed', { name: 'back-dated' }, { ms: 1000, c: 0 });
  await h.command('tag.create', { name: 'by-h' }, on);
  forge(lh, H, 'device.renamed', { name: 'h-late' });
  // Everyone sees all of it, then the admins revoke H (B cuts it two events short of its head),
  // and each other, concurrently.
  connectAll();
  await level();
  cutAll();
  lb.write(() => lb.append('device.revoked', { dev: H.id, upTo: lh.log.headOf(H.id).seq - 2 }));
  lb.write(() => lb.append('device.revoked', { dev: c.device.id, upTo: lb.log.headOf(c.device.id).seq }));
  lc.write(() => lc.append('device.revoked', { dev: b.device.id, upTo: lc.log.headOf(b.device.id).seq }));
  forge(lh, H, 'library.renamed', { name: 'after the cut' });
  connectAll();
  await until('the honest devices level', () => [lb, lc].every((l) => heads(l) === heads(la)));
  cutAll();
  // Every event any device holds, feed by feed (H's last ones only H holds).
  const feeds = [a, b, c, h, { device: ghost }].map(({ device }) => {
    let best: StoredEvent[] = [];
    for (const l of libs) {
      const list: StoredEvent[] = [];
      for (let seq = 1; ; seq++) {
        const ev = l.log.get(device.id, seq);
        if (!ev) break;
        list.push(ev);
      }
      if (list.length > best.length) best = list;
    }
    return best;
  });
  return { lib, feeds: feeds.filter((f) => f.length > 0) };
}

test('the projections are the same for any arrival order and batching of the same events, hostile ones included', async (t) => {
  const { lib, feeds } = await history(t);
  t.true(feeds.reduce((n, f) => n + f.length, 0) > 40);
  const keys = keysFromPem(generateKeys().privatePem);
  const dir = tempDir(t);
  let n = 0;
  const receive = async (order: StoredEvent[], batches: number[]): Promise<{ sum: string; replay: boolean }> => {
    const l = Library.open(join(dir, `r${n++}.db`), lib, keys, { create: true });
    try {
      let i = 0;
      for (let b = 0; i < order.length; b++) {
        const size = 1 + ((batches[b % batches.length] ?? 0) % 7);
        const part = order.slice(i, i + size);
        l.write(() => part.forEach((ev) => l.appendRemote(ev)));
        l.flush();
        i += size;
      }
      const sum = checksums(l.db).total;
      const r = replayCheck({ live: l.ro, writer: l.db, lib, tmpDir: dir });
      return { sum, replay: r.equal };
    } finally {
      await l.close();
    }
  };
  const canonical = await receive(feeds.flat(), [6]);
  t.true(canonical.replay, 'the canonical order replays equal');
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(), { minLength: 1, maxLength: 80 }),
      fc.array(fc.nat(), { minLength: 1 }),
      async (picks, batches) => {
        runs++;
        const at = feeds.map(() => 0);
        const order: StoredEvent[] = [];
        for (let p = 0; order.length < feeds.reduce((s, f) => s + f.length, 0); p++) {
          const open = feeds.map((_, i) => i).filter((i) => at[i]! < feeds[i]!.length);
          const i = open[picks[p % picks.length]! % open.length]!;
          order.push(feeds[i]![at[i]!++]!);
        }
        const got = await receive(order, batches);
        return got.replay && got.sum === canonical.sum;
      },
    ),
    {
      numRuns: Number(process.env.PROPERTY_RUNS ?? 30),
      seed: Number(process.env.PROPERTY_SEED ?? 11),
      endOnFailure: true,
    },
  );
  t.true(runs >= 30 || !!process.env.PROPERTY_RUNS);
});
