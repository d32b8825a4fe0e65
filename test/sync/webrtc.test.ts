// Sync over WebRTC: two devices linked by an encrypted WebRTC PeerLink (node-datachannel
// on 127.0.0.1, no STUN/TURN) replicate a 20,000-entry feed and shared-metadata edits made on
// both sides, and end with equal projections and verified logs.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { Core } from '../../src/core.js';
import { SdError } from '../../src/errors.js';
import { checksums } from '../../src/projections/index.js';
import { SEP, type EntryTuple } from '../../src/projections/entries.js';
import { FeedSession } from '../../src/sync/feed.js';
import { linkChannel } from '../../src/sync/mux-channel.js';
import { openPeerLink } from '../../src/transport/peer-link.js';
import { openWebRtc, type RtcSignal } from '../../src/transport/webrtc.js';
import { tempDir } from '../helpers.js';
import { newLocationId } from '../../src/projections/rules.js';
import { until } from '../support/until.js';

test('two devices sync a feed and concurrent tags over an authenticated WebRTC link', async (t) => {
  const a = await Core.open(tempDir(t), { services: false });
  const b = await Core.open(tempDir(t), { services: false });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const la = a.libraries.resolve();
  la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: 'b' }));
  const loc = newLocationId(a.device.id);
  la.write(() =>
    la.append('location.added', { id: loc, path: '/nowhere/on/b', name: 'a-files', watch: false, rules: {} }),
  );
  const rows: EntryTuple[] = Array.from({ length: 20_000 }, (_, i) => [
    `d${i % 100}${SEP}f-${i}.txt`,
    0,
    i,
    1.7e12,
    i + 1,
    'text',
  ]);
  la.write(() => {
    for (let i = 0; i < rows.length; i += 1000) la.append('entries.upserted', { loc, e: rows.slice(i, i + 1000) });
  });
  const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });

  // WebRTC, signalled through a relay (in the daemon, an existing link's control channel).
  const relay = (to: () => { receive(s: RtcSignal): void }) => (s: RtcSignal) => setImmediate(() => to().receive(s));
  // One connection attempt may fail on a loaded machine (ICE or DTLS gives up: "the peer connection
  // failed"); the daemon then dials again, and so does this test, once, saying so.
  const connect = async () => {
    const ra = openWebRtc({ role: 'offerer', bindAddress: '127.0.0.1', signal: relay(() => rb), name: 'a' });
    const rb = openWebRtc({ role: 'answerer', bindAddress: '127.0.0.1', signal: relay(() => ra), name: 'b' });
    t.teardown(() => (ra.close(), rb.close()));
    return Promise.all([ra.transport, rb.transport]);
  };
  const [ta, tb] = await connect().catch(async (e: unknown) => {
    // Only a connection that failed to form; any other error fails the test.
    if (!(e instanceof SdError) || e.code !== 'E_LINK_CUT') throw e;
    t.log(`first WebRTC attempt failed (${(e as Error).message}); dialling again`);
    return connect();
  });
  const roster = (lib: typeof la) => (_pub: Uint8Array, peer: string) => !!lib.keyOf(peer);
  const [linkA, linkB] = await Promise.all([
    openPeerLink(ta, {
      role: 'initiator',
      privateKey: a.device.privateKey,
      isAllowed: roster(la),
      expectPeerId: b.device.id,
    }),
    openPeerLink(tb, {
      role: 'responder',
      privateKey: b.device.privateKey,
      isAllowed: roster(lb),
      expectPeerId: a.device.id,
    }),
  ]);
  t.teardown(() => (linkA.close('E_TEST_OVER', 'test over'), linkB.close('E_TEST_OVER', 'test over')));
  t.is(linkA.kind, 'webrtc');
  t.is(linkA.peerId, b.device.id);
  new FeedSession(la, linkChannel(linkA, `feed:${la.id}`)).start();
  new FeedSession(lb, linkChannel(linkB, `feed:${la.id}`)).start();
  const heads = (l: typeof la): string => JSON.stringify([...l.log.heads()].sort());
  const t0 = Date.now();
  await until('B caught up over WebRTC', () => heads(la) === heads(lb), 30_000);
  t.log(`20,000 entries replicated over WebRTC in ${Date.now() - t0} ms`);
  t.is((lb.db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n, 20_000);
  await lb.sharedOpening;
  await a.command('tag.create', { name: 'from-a' });
  await b.command('tag.create', { name: 'from-b' }, { library: la.id });
  await until(
    'tags on both sides',
    () =>
      heads(la) === heads(lb) &&
      [la, lb].every((l) => (l.db.prepare('SELECT COUNT(*) AS n FROM tags').get() as { n: number }).n === 2),
    30_000,
  );
  t.is(checksums(la.db).total, checksums(lb.db).total);
  for (const c of [a, b]) t.true((await c.query<{ ok: boolean }>('log.verify', {}, { library: la.id })).ok);
});
