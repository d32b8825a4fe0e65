import test from 'ava';
import { faulty } from '../../src/transport/faulty.js';
import { burst, linkPair, memPair, wsPair } from './helpers.js';

test('WebSocket on 127.0.0.1: 10,000 messages of mixed sizes up to 4 MiB, sent in a burst, all arrive in order', async (t) => {
  const [a, b] = await linkPair(t, await wsPair(t));
  t.is(a.kind, 'lan-ws');
  const { ms, bytes } = await burst(t, a, b, 10_000, 4 * 1024 * 1024);
  t.log(
    `${(bytes / 1e6).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s = ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`,
  );
});

test('a lossy, duplicating, reordering transport still yields every link message in order', async (t) => {
  const [ta, tb] = memPair(t);
  const fa = faulty(ta, { drop: 0.1, duplicate: 0.05, reorder: 0.05, seed: 3 });
  const fb = faulty(tb, { drop: 0.1, duplicate: 0.05, reorder: 0.05, seed: 4 });
  const [a, b] = await linkPair(t, [fa, fb], { reliable: { minRtoMs: 20 } });
  await burst(t, a, b, 1000, 512 * 1024);
  t.true(a.stats().retransmits > 0);
});

test('heartbeat timeout closes a link whose peer went silent, on both sides', async (t) => {
  const [ta, tb] = memPair(t);
  const fa = faulty(ta);
  const fb = faulty(tb);
  const [a, b] = await linkPair(t, [fa, fb], { heartbeatMs: 50, missedHeartbeats: 3 });
  const started = Date.now();
  const atA = new Promise<string>((r) => a.once('close', r));
  const atB = new Promise<string>((r) => b.once('close', r));
  fa.silence(true);
  fb.silence(true);
  t.regex(await atA, /^E_HEARTBEAT/);
  t.regex(await atB, /^E_HEARTBEAT/);
  const took = Date.now() - started;
  t.true(took >= 100 && took < 2000, `closed after ${took} ms`);
  t.false(a.isOpen);
  t.throws(() => a.send('ctl', new Uint8Array(1)), { message: /closed/ });
});

test('a busy link stays open: heartbeats ride alongside the data', async (t) => {
  const [a, b] = await linkPair(t, memPair(t), { heartbeatMs: 50, missedHeartbeats: 3 });
  let closed: string | undefined;
  a.on('close', (r) => (closed = r));
  await burst(t, a, b, 300, 1024 * 1024);
  await new Promise((r) => setTimeout(r, 150));
  t.is(closed, undefined);
});

test('close reasons surface on both sides (WebSocket), and a cut transport reports its own', async (t) => {
  const [a, b] = await linkPair(t, await wsPair(t));
  const atA = new Promise<string>((r) => a.once('close', r));
  const atB = new Promise<string>((r) => b.once('close', r));
  b.close('E_REVOKED: the device was revoked');
  t.is(await atB, 'E_REVOKED: the device was revoked');
  t.is(await atA, 'E_REVOKED: the device was revoked');

  const [tc, td] = memPair(t);
  const fc = faulty(tc);
  const [c, d] = await linkPair(t, [fc, td]);
  const atD = new Promise<string>((r) => d.once('close', r));
  fc.cut('cable pulled');
  t.is(await atD, 'cable pulled');
  t.false(c.isOpen);
});

test('numeric and named channels keep apart and in order', async (t) => {
  const [a, b] = await linkPair(t, memPair(t));
  const got: string[] = [];
  const done = new Promise<void>((r) =>
    b.on('message', (ch, m) => (got.push(`${ch}=${Buffer.from(m).toString()}`), got.length === 4 && r())),
  );
  a.send(0, Buffer.from('x'));
  a.send('feed:lib1', Buffer.from('y'));
  a.send('am:lib1', new Uint8Array(0));
  a.send(4294967295, Buffer.from('z'));
  await done;
  t.deepEqual(got, ['0=x', 'feed:lib1=y', 'am:lib1=', '4294967295=z']);
  t.throws(() => a.send('x'.repeat(300), new Uint8Array(1)), { message: /255 bytes/ });
});
