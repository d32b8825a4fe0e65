// The short version of fuzz/run.ts: hostile inputs to the RPC decoder, the peer handshake and the feed protocol;
// and batches hashed in C against the JavaScript hasher.
import test from 'ava';
import { fuzzFeed, fuzzHandshake, fuzzHashLanes, fuzzRpcDecoder } from '../../fuzz/targets.js';
import { openCore } from '../helpers.js';
import { FeedSession } from '../../src/sync/feed.js';
import { memoryChannelPair } from '../support/memory-channel.js';

test('2,000 hostile RPC byte streams: only refusals, never more buffered than the limit', (t) => {
  const r = fuzzRpcDecoder(2000);
  t.true(r.refused > 0);
  t.is(r.runs, 2000);
});

test('2,000 hostile peer handshakes: each ends in a refusal, none in a link, nothing escapes', async (t) => {
  const r = await fuzzHandshake(2000);
  t.is(
    Object.values(r.refused).reduce((x, y) => x + y, 0),
    2000,
  );
  t.true((r.refused.E_LINK_CLOSED ?? 0) > 0, 'some inputs got past the hello to the proof step');
  t.true((r.refused.E_PROTOCOL_VERSION ?? 0) > 0, 'some spoke another version');
});

test('2,000 hostile feed messages: refused and counted, nothing stored, an honest peer still syncs', async (t) => {
  const a = await openCore(t);
  const b = await openCore(t);
  const la = a.libraries.resolve();
  const r = await fuzzFeed(la, 2000);
  t.true(Object.values(r.rejected).reduce((x, y) => x + y, 0) > 0);
  // Afterwards the library still replicates to an honest member.
  la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: 'b' }));
  la.flush();
  const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
  const [x, y] = memoryChannelPair(
    () => 'a',
    () => 'b',
  );
  t.teardown(() => x.close());
  new FeedSession(la, x).start();
  new FeedSession(lb, y).start();
  const end = Date.now() + 10_000;
  while (lb.log.headOf(a.device.id).seq !== la.log.headOf(a.device.id).seq && Date.now() < end)
    await new Promise((res) => setTimeout(res, 20));
  t.is(lb.log.headOf(a.device.id).seq, la.log.headOf(a.device.id).seq);
});

test("300 batches hashed in C (up to 40 inputs each, lengths around every block and chunk edge): the JavaScript hasher's ids", async (t) => {
  const r = await fuzzHashLanes(300);
  if (r.skipped) {
    t.log(`skipped: ${r.skipped}`);
    return void t.pass();
  }
  t.is(r.runs, 300);
  t.true(r.inputs >= 300);
});
