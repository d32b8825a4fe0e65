// Feed replication between Cores over in-memory channels: catch-up, live, relay through a
// middle device, resume after a cut, and refusal of forged or unknown-key events.
import test from 'ava';
import { Core } from '../../src/core.js';
import { FeedSession } from '../../src/sync/feed.js';
import { sigThreadReady } from '../../src/sync/sig-pool.js';
import { memoryChannelPair, type MemoryChannel } from '../support/memory-channel.js';
import { checksums } from '../../src/projections/index.js';
import type { Library } from '../../src/library/library.js';
import { encodeEvent, decodeEvent } from '../../src/events/codec.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

async function node(t: Parameters<typeof tempDir>[0]): Promise<Core> {
  const c = await Core.open(tempDir(t), { services: false });
  t.teardown(() => c.close());
  return c;
}

function link(
  a: Library,
  b: Library,
): { close(): void; sa: FeedSession; sb: FeedSession; ends: [MemoryChannel, MemoryChannel] } {
  const ends = memoryChannelPair(
    () => 'a',
    () => 'b',
  );
  const sa = new FeedSession(a, ends[0]);
  const sb = new FeedSession(b, ends[1]);
  sa.start();
  sb.start();
  return { sa, sb, ends, close: () => ends[0].close() };
}

const headsEqual = (a: Library, b: Library): boolean =>
  JSON.stringify([...a.log.heads()].sort()) === JSON.stringify([...b.log.heads()].sort());

/** B joins A's current library: A adds B to its roster, B creates the empty library. */
async function join(a: Core, b: Core): Promise<[Library, Library]> {
  const la = a.libraries.resolve();
  la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: b.device.name }));
  const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
  return [la, lb];
}

/** A and B in one library, linked until B held A's feed, then unlinked: B's feed sessions to come are the test's. */
async function syncedThenApart(
  t: Parameters<typeof tempDir>[0],
): Promise<{ a: Core; b: Core; la: Library; lb: Library }> {
  const [a, b] = [await node(t), await node(t)];
  const [la, lb] = await join(a, b);
  const l = link(la, lb);
  t.teardown(() => l.close());
  await until('synced', () => headsEqual(la, lb), 30_000);
  l.close();
  return { a, b, la, lb };
}

test('a joining device catches up, sees the same projections, and its edits flow back', async (t) => {
  const a = await node(t);
  const b = await node(t);
  await a.command('library.rename', { name: 'shared' });
  await a.command('tag.create', { name: 'from-a' });
  const [la, lb] = await join(a, b);
  const l = link(la, lb);
  t.teardown(() => l.close());
  await until('B caught up', () => headsEqual(la, lb), 30_000);
  await lb.sharedOpening;
  t.is(lb.name, 'shared');
  t.deepEqual(checksums(lb.db).total, checksums(la.db).total);
  // B edits shared metadata; A receives the signed event and projects it.
  await b.command('tag.create', { name: 'from-b' }, { library: la.id });
  await until('A has B tag', () => !!la.db.prepare("SELECT 1 FROM tags WHERE name = 'from-b'").get(), 30_000);
  await until('heads equal', () => headsEqual(la, lb), 30_000);
  t.is(checksums(la.db).total, checksums(lb.db).total);
  const v = await b.query<{ ok: boolean; devices: number }>('log.verify', {}, { library: la.id });
  t.true(v.ok);
  t.is(v.devices, 2);
  const r = await b.query<{ equal: boolean }>('replay.check', {}, { library: la.id });
  t.true(r.equal);
});

test('feeds relay through a middle device (A-B-C, no A-C link) and resume after a cut', async (t) => {
  const [a, b, c] = [await node(t), await node(t), await node(t)];
  const [la, lb] = await join(a, b);
  const lc = await c.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
  la.write(() => la.append('device.added', { dev: c.device.id, pubkey: c.device.publicKey, name: c.device.name }));
  const ab = link(la, lb);
  const bc = link(lb, lc);
  t.teardown(() => (ab.close(), bc.close()));
  await until('C has A through B', () => headsEqual(la, lc), 30_000);
  await lc.sharedOpening;
  bc.close();
  for (let i = 0; i < 30; i++) await a.command('library.rename', { name: `n${i}` });
  await until('B has the new events', () => headsEqual(la, lb), 30_000);
  const sentBefore = ab.sa.stats.sent;
  const bc2 = link(lb, lc);
  t.teardown(() => bc2.close());
  await until('C caught up after the cut', () => headsEqual(la, lc), 30_000);
  t.is(lc.name, 'n29');
  // After the cut, only what C lacked crossed the B-C link.
  t.is(bc2.sa.stats.sent, 60);
  t.is(ab.sa.stats.sent, sentBefore);
  t.is(checksums(lc.db).total, checksums(la.db).total);
});

test('a forged event is refused and counted; nothing of it is stored', async (t) => {
  const { a, la, lb } = await syncedThenApart(t);
  // A "peer" that sends an event of A's feed with a tampered body (signature no longer matches).
  const next = la.log.headOf(a.device.id);
  await a.command('library.rename', { name: 'honest' });
  const real = la.log.get(a.device.id, next.seq + 1)!;
  const forged = encodeEvent({ ...decodeEvent(real.bytes), body: { name: 'evil' } });
  const [evil, victim] = memoryChannelPair(
    () => 'x',
    () => 'b',
  );
  const session = new FeedSession(lb, victim);
  t.teardown(() => evil.close());
  evil.send(Buffer.from(JSON.stringify('garbage')));
  const { pack } = await import('../../src/events/codec.js');
  evil.send(pack({ t: 'events', dev: a.device.id, list: [[forged, real.sig]] }));
  await until(
    'refusal counted',
    () => (session.stats.rejected.E_BAD_SIGNATURE ?? 0) === 1 || (session.stats.rejected.E_BAD_SIGNATURE ?? 0) > 0,
    10_000,
  );
  t.is(lb.log.headOf(a.device.id).seq, next.seq);
  t.true((session.stats.rejected.E_BAD_FRAME ?? 0) >= 1);
  // An honest link still delivers the real event.
  const l2 = link(la, lb);
  t.teardown(() => l2.close());
  await until('honest event arrives', () => headsEqual(la, lb), 30_000);
  t.is(lb.name, 'honest');
});

test('events of a device that is not on the roster are refused until it is added', async (t) => {
  const [a, b] = [await node(t), await node(t)];
  const la = a.libraries.resolve();
  const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
  // B has no roster entry at A: A ignores what B says of its own feed and stores nothing of it.
  const l = link(la, lb);
  t.teardown(() => l.close());
  await until('B has A feed', () => lb.log.headOf(a.device.id).seq === la.log.headOf(a.device.id).seq, 30_000);
  lb.write(() => lb.append('device.renamed', { name: 'stranger' }));
  await until('A ignored B', () => l.sa.stats.ignored > 0, 30_000);
  t.is(la.log.headOf(b.device.id).seq, 0);
  la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: 'b' }));
  await until('A accepts B after adding it', () => la.log.headOf(b.device.id).seq === 1, 30_000);
  t.pass();
});

test('a peer behind on our feed gets it at its first heads without asking; feeds it cannot check wait for its want', async (t) => {
  const [a, b, c] = [await node(t), await node(t), await node(t)];
  // C is a member with a feed of its own at A; B joins after it.
  const [la, lc] = await join(a, c);
  const lac = link(la, lc);
  await until('C synced', () => headsEqual(la, lc), 30_000);
  await c.command('tag.create', { name: 'from-c' }, { library: lc.id });
  await until('A has C feed', () => headsEqual(la, lc), 30_000);
  lac.close();
  await a.command('library.rename', { name: 'pushed' });
  const [, lb] = await join(a, b);
  t.true(la.log.headOf(c.device.id).seq > 0);

  // B's wants are lost on the way: only what A offers unasked arrives.
  const { unpack } = await import('../../src/events/codec.js');
  const ends = memoryChannelPair(
    () => 'a',
    () => 'b',
  );
  t.teardown(() => ends[0].close());
  const send = ends[1].send.bind(ends[1]);
  let wants = 0;
  ends[1].send = (bytes: Uint8Array): void => {
    if ((unpack(bytes) as { t: string }).t === 'want') return void wants++;
    send(bytes);
  };
  const sa = new FeedSession(la, ends[0]);
  const sb = new FeedSession(lb, ends[1]);
  sa.start();
  sb.start();
  await until('B holds A feed', () => lb.log.headOf(a.device.id).seq === la.log.headOf(a.device.id).seq, 30_000);
  t.is(lb.name, 'pushed', 'projected as any batch: verified, stored, projected');
  t.true(wants > 0, 'B did ask (and its asks were lost)');
  // C's feed was not offered: B named no C in its heads (A's own feed is the one a joiner can check).
  await new Promise((r) => setTimeout(r, 300));
  t.is(lb.log.headOf(c.device.id).seq, 0);
  t.is(sb.stats.rejected.E_UNKNOWN_DEVICE ?? 0, 0, 'nothing B could not check was sent');
  t.is(sa.stats.sent, la.log.headOf(a.device.id).seq, 'each event of A sent once');
  ends[0].close();

  // An ordinary link: B asks for C's feed and gets it; A's want answers nothing twice.
  const l = link(la, lb);
  t.teardown(() => l.close());
  await until('B has everything', () => headsEqual(la, lb), 30_000);
  t.is(l.sa.stats.sent, la.log.headOf(c.device.id).seq, 'only C feed was sent on the second link');
  t.true(!!lb.db.prepare("SELECT 1 FROM tags WHERE name = 'from-c'").get());
});

test('a group of events committed together is announced once per device, and the peer still gets every event', async (t) => {
  const a = await node(t);
  const b = await node(t);
  const [la, lb] = await join(a, b);
  const l = link(la, lb);
  t.teardown(() => l.close());
  await until('B caught up', () => headsEqual(la, lb), 30_000);
  // Count what B receives from now on: 'have' announcements and events.
  const seen: { t: string; dev?: string; seq?: number; n?: number }[] = [];
  const { unpack } = await import('../../src/events/codec.js');
  l.ends[1].onMessage((bytes) => {
    const m = unpack(bytes) as { t: string; dev?: string; seq?: number; list?: unknown[] };
    seen.push({ t: m.t, dev: m.dev, seq: m.seq, n: m.list?.length });
  });
  const before = la.log.headOf(a.device.id).seq;
  // 300 events in one group (one transaction), then one more on its own.
  la.write(() => {
    for (let i = 0; i < 300; i++) la.append('library.renamed', { name: `g${i}` });
  });
  la.flush();
  await new Promise((r) => setImmediate(r));
  la.write(() => la.append('library.renamed', { name: 'last' }));
  la.flush();
  await until('B has all 301', () => headsEqual(la, lb), 30_000);
  t.is(lb.log.headOf(a.device.id).seq, before + 301);
  t.is(lb.name, 'last');
  const haves = seen.filter((m) => m.t === 'have' && m.dev === a.device.id);
  t.deepEqual(
    haves.map((m) => m.seq),
    [before + 300, before + 301],
    'one announcement per committed group, naming its last event',
  );
  t.is(
    seen.filter((m) => m.t === 'events').reduce((n, m) => n + (m.n ?? 0), 0),
    301,
    'every event sent once',
  );
});

test('a large batch, checked on the other thread while the one before is stored: a forged event stops it there, a replay stores nothing twice, the honest link delivers the rest', async (t) => {
  const { a, b, la, lb } = await syncedThenApart(t);
  const before = la.log.headOf(a.device.id).seq;
  la.write(() => {
    for (let i = 0; i < 200; i++) la.append('library.renamed', { name: `n${i}` });
  });
  la.flush();
  const real = Array.from({ length: 200 }, (_, i) => la.log.get(a.device.id, before + 1 + i)!);
  const list: [Uint8Array, Uint8Array][] = real.map((e) => [e.bytes, e.sig]);
  // the 140th event of the feed changed in transit (its signature is the real one)
  list[139] = [encodeEvent({ ...decodeEvent(real[139]!.bytes), body: { name: 'evil' } }), real[139]!.sig];
  const [evil, victim] = memoryChannelPair(
    () => 'x',
    () => 'b',
  );
  const session = new FeedSession(lb, victim);
  t.teardown(() => evil.close());
  const { pack, unpack } = await import('../../src/events/codec.js');
  const answers: { t: string; seq?: number; code?: string }[] = [];
  evil.onMessage((bytes) => answers.push(unpack(bytes) as { t: string; seq?: number; code?: string }));
  // two batches back to back: the first is stored while the second is checked on the thread
  t.true(await sigThreadReady(), 'the signature thread runs');
  evil.send(pack({ t: 'events', dev: a.device.id, list: list.slice(0, 100) }));
  evil.send(pack({ t: 'events', dev: a.device.id, list: list.slice(100) }));
  await until('refusal counted and answered', () => answers.some((m) => m.t === 'reject'), 10_000);
  t.is(session.stats.rejected.E_BAD_SIGNATURE, 1);
  t.is(lb.log.headOf(a.device.id).seq, before + 139, 'everything before the forged event, nothing from it on');
  t.is(lb.name, `n138`);
  t.deepEqual(
    answers.filter((m) => m.t === 'ack' || m.t === 'reject').map((m) => [m.t, m.seq, m.code]),
    [
      ['ack', before + 100, undefined],
      ['reject', before + 140, 'E_BAD_SIGNATURE'],
    ],
    'answered in the order the batches came',
  );
  // a replay of the first batch: acknowledged, nothing stored twice
  const received = session.stats.received;
  evil.send(pack({ t: 'events', dev: a.device.id, list: list.slice(0, 100) }));
  await until('replay answered', () => answers.filter((m) => m.t === 'ack').length === 2, 10_000);
  t.is(session.stats.received, received);
  t.is(lb.log.headOf(a.device.id).seq, before + 139);
  t.true((await b.query<{ ok: boolean }>('log.verify', {})).ok);
  // the honest link delivers the rest
  const l2 = link(la, lb);
  t.teardown(() => l2.close());
  await until('honest events arrive', () => headsEqual(la, lb), 30_000);
  t.is(lb.name, 'n199');
});
