// Own events signed on the signing thread: what a large group commits is signed and verifies,
// a rolled-back unit leaves nothing behind, and a feed never sends a row still waiting for its
// signature.
import test from 'ava';
import { Core } from '../../src/core.js';
import { blake3 } from '../../src/events/hash.js';
import { signRaw, verifyRaw } from '../../src/events/keys.js';
import { pack, unpack } from '../../src/events/codec.js';
import { signedOnThread, signThreadReady, startSignThread } from '../../src/events/sign-pool.js';
import { verifyLog } from '../../src/events/verify.js';
import { rosterLookup } from '../../src/ops/log/queries.js';
import { FeedSession } from '../../src/sync/feed.js';
import type { SyncChannel } from '../../src/sync/channel.js';
import type { Library } from '../../src/library/library.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

async function library(t: Parameters<typeof tempDir>[0]): Promise<{ core: Core; lib: Library }> {
  const core = await Core.open(tempDir(t), { services: false });
  t.teardown(() => core.close());
  startSignThread();
  await until('the signing thread takes jobs', () => signThreadReady(), 20_000);
  const lib = core.libraries.resolve();
  lib.flush();
  return { core, lib };
}

const ZERO_SIG = Buffer.alloc(64);

function rowsOf(lib: Library, dev: string, from: number): { seq: number; hash: Buffer; sig: Buffer }[] {
  return lib.db.prepare('SELECT seq, hash, sig FROM events WHERE dev = ? AND seq >= ? ORDER BY seq').all(dev, from) as {
    seq: number;
    hash: Buffer;
    sig: Buffer;
  }[];
}

test("a large group's signatures come from the signing thread, equal the ones made in place, and the log verifies", async (t) => {
  const { core, lib } = await library(t);
  const dev = core.device.id;
  const from = lib.log.headOf(dev).seq + 1;
  const before = signedOnThread();
  lib.write(() => {
    for (let i = 0; i < 1500; i++) lib.append('library.renamed', { name: `n${i}` });
  });
  t.true(lib.log.unsignedFrom(dev) < Infinity, 'the signatures were handed to the thread');
  const evs = lib.flush();
  t.is(evs.length, 1500);
  t.true(signedOnThread() > before, 'the thread signed some of them');
  t.is(lib.log.unsignedFrom(dev), Infinity);
  const rows = rowsOf(lib, dev, from);
  t.is(rows.length, 1500);
  for (const [i, r] of rows.entries()) {
    t.false(r.sig.equals(ZERO_SIG), `seq ${r.seq} was committed unsigned`);
    // Ed25519 is deterministic: the thread's signature is the one this thread would have made.
    if (i % 100 === 0) t.true(Buffer.from(signRaw(core.device.secretKey, r.hash)).equals(r.sig));
    t.true(Buffer.from(evs[i]!.sig).equals(r.sig), 'the published event carries the stored signature');
  }
  const rep = verifyLog(lib.db, lib.id, rosterLookup(lib.db));
  t.true(rep.ok, JSON.stringify(rep));
  t.is(lib.name, 'n1499');
});

test('a unit rolled back inside a group on the signing thread leaves no event; the seq it took is reused and verifies', async (t) => {
  const { core, lib } = await library(t);
  const dev = core.device.id;
  const from = lib.log.headOf(dev).seq + 1;
  lib.write(() => {
    for (let i = 0; i < 200; i++) lib.append('library.renamed', { name: `a${i}` });
  });
  t.throws(() =>
    lib.write(() => {
      lib.append('library.renamed', { name: 'rolled back' });
      throw new Error('the unit fails');
    }),
  );
  lib.write(() => {
    for (let i = 0; i < 200; i++) lib.append('library.renamed', { name: `b${i}` });
  });
  lib.flush();
  const rows = rowsOf(lib, dev, from);
  t.deepEqual(
    rows.map((r) => r.seq),
    Array.from({ length: 400 }, (_, i) => from + i),
  );
  t.false(rows.some((r) => r.sig.equals(ZERO_SIG)));
  t.true(verifyLog(lib.db, lib.id, rosterLookup(lib.db)).ok);
  t.is(lib.name, 'b199');
  // The ring gave every slot back: the next group signs as before.
  lib.write(() => lib.append('library.renamed', { name: 'after' }));
  lib.flush();
  t.true(verifyLog(lib.db, lib.id, rosterLookup(lib.db)).ok);
});

test('a feed asked for events while their group is still open sends none unsigned, and sends them once it commits', async (t) => {
  const { core, lib } = await library(t);
  const dev = core.device.id;
  const sent: { t: string; dev?: string; list?: [Uint8Array, Uint8Array][] }[] = [];
  let deliver: (bytes: Uint8Array) => void = () => undefined;
  const ch: SyncChannel = {
    peerId: 'peer',
    send: (bytes) => void sent.push(unpack(bytes) as (typeof sent)[number]),
    onMessage: (cb) => void (deliver = cb),
    onClose: () => undefined,
  };
  const feed = new FeedSession(lib, ch);
  feed.start();
  t.teardown(() => feed.close());
  const committed = lib.log.headOf(dev).seq;
  lib.write(() => {
    for (let i = 0; i < 300; i++) lib.append('library.renamed', { name: `g${i}` });
  });
  const unsigned = lib.log.unsignedFrom(dev);
  t.true(unsigned <= committed + 300, 'the group handed signatures to the thread');
  // The peer asks for the whole feed while the group is open (its commit is at the end of the turn).
  deliver(pack({ t: 'want', dev, from: 1 }));
  const pubkey = core.device.publicKey;
  const events = (): [Uint8Array, Uint8Array][] => sent.filter((m) => m.t === 'events').flatMap((m) => m.list ?? []);
  t.is(events().length, unsigned - 1, 'the stream stopped before the first row waiting for its signature');
  for (const [bytes, sig] of events()) t.true(verifyRaw(pubkey, blake3(bytes), sig));
  // The group commits at the end of the turn; the stream goes on by itself (the peer asks nothing more).
  await until('the group went out', () => events().length === committed + 300, 10_000);
  t.is(sent.filter((m) => m.t === 'have').length, 1, 'the commit was announced once');
  for (const [bytes, sig] of events()) t.true(verifyRaw(pubkey, blake3(bytes), sig), 'every event sent verifies');
});
