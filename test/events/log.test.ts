import test from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { encodeEvent, decodeEvent } from '../../src/events/codec.js';
import { blake3, initHashing } from '../../src/events/hash.js';
import { generateKeys, keysFromPem, signBytes, signRaw, verifyBytes, verifyRaw } from '../../src/events/keys.js';
import { verifyLog } from '../../src/events/verify.js';
import { HEADS_SQL } from '../../src/events/log.js';
import { openCore, tempDir } from '../helpers.js';
import { rosterLookup } from '../../src/ops/log/queries.js';

test.before(async () => {
  await initHashing();
});

async function coreWithHistory(t: Parameters<typeof openCore>[0]) {
  const core = await openCore(t);
  for (let i = 0; i < 5; i++) await core.command('library.rename', { name: `lib-${i}` });
  const lib = core.libraries.resolve();
  return { core, lib, dev: core.device.id };
}

test('a fresh log with commands verifies', async (t) => {
  const { core } = await coreWithHistory(t);
  const r = await core.query<{ ok: boolean; events: number; devices: number }>('log.verify', {});
  t.true(r.ok);
  t.is(r.devices, 1);
  t.is(r.events, 12); // library created + shared docs created + 5 x (renamed + verified)
});

test('a tampered payload is detected and named', async (t) => {
  const { core, lib, dev } = await coreWithHistory(t);
  const row = lib.db.prepare('SELECT bytes FROM events WHERE dev = ? AND seq = 4').get(dev) as { bytes: Buffer };
  const fields = decodeEvent(row.bytes);
  const forged = encodeEvent({ ...fields, body: { name: 'evil' } });
  lib.db.prepare('UPDATE events SET bytes = ? WHERE dev = ? AND seq = 4').run(forged, dev);
  const r = await core.query<{ ok: boolean; firstBad: { seq: number; code: string } }>('log.verify', {});
  t.false(r.ok);
  t.is(r.firstBad.seq, 4);
  t.is(r.firstBad.code, 'E_BAD_HASH');
});

test('a re-hashed tampered payload fails its signature', async (t) => {
  const { core, lib, dev } = await coreWithHistory(t);
  const row = lib.db.prepare('SELECT bytes FROM events WHERE dev = ? AND seq = 2').get(dev) as { bytes: Buffer };
  const forged = encodeEvent({ ...decodeEvent(row.bytes), body: { name: 'evil' } });
  lib.db.prepare('UPDATE events SET bytes = ?, hash = ? WHERE dev = ? AND seq = 2').run(forged, blake3(forged), dev);
  const r = await core.query<{ ok: boolean; firstBad: { seq: number; code: string } }>('log.verify', {});
  t.is(r.firstBad.code, 'E_BAD_SIGNATURE');
  t.is(r.firstBad.seq, 2);
});

test('a forged signature by another key is detected', async (t) => {
  const { core, lib, dev } = await coreWithHistory(t);
  const other = keysFromPem(generateKeys().privatePem);
  const row = lib.db.prepare('SELECT hash FROM events WHERE dev = ? AND seq = 3').get(dev) as { hash: Buffer };
  lib.db.prepare('UPDATE events SET sig = ? WHERE dev = ? AND seq = 3').run(signBytes(other.privateKey, row.hash), dev);
  const r = await core.query<{ ok: boolean; firstBad: { seq: number; code: string } }>('log.verify', {});
  t.false(r.ok);
  t.deepEqual([r.firstBad.seq, r.firstBad.code], [3, 'E_BAD_SIGNATURE']);
});

test('reordered events break the chain', async (t) => {
  const { core, lib, dev } = await coreWithHistory(t);
  // Swap events 4 and 6 (both valid, signed events) by their positions.
  lib.db.transaction(() => {
    lib.db.prepare('UPDATE events SET seq = -1 WHERE dev = ? AND seq = 4').run(dev);
    lib.db.prepare('UPDATE events SET seq = 4 WHERE dev = ? AND seq = 6').run(dev);
    lib.db.prepare('UPDATE events SET seq = 6 WHERE dev = ? AND seq = -1').run(dev);
  })();
  const r = await core.query<{ ok: boolean; firstBad: { seq: number; code: string } }>('log.verify', {});
  t.false(r.ok);
  t.is(r.firstBad.seq, 4);
  t.true(['E_BROKEN_CHAIN', 'E_BAD_EVENT'].includes(r.firstBad.code));
});

test('a removed event is reported as a gap', async (t) => {
  const { core, lib, dev } = await coreWithHistory(t);
  lib.db.prepare('DELETE FROM events WHERE dev = ? AND seq = 5').run(dev);
  const r = await core.query<{ ok: boolean; firstBad: { seq: number; code: string; reason: string } }>(
    'log.verify',
    {},
  );
  t.false(r.ok);
  t.is(r.firstBad.code, 'E_BROKEN_CHAIN');
  t.is(r.firstBad.seq, 6);
});

test('an event from a device off the roster is refused', async (t) => {
  const dir = tempDir(t);
  const { core, lib } = await coreWithHistory(t);
  const lookup = rosterLookup(lib.db);
  t.truthy(lookup(core.device.id));
  const r = verifyLog(lib.db, lib.id, () => undefined);
  t.false(r.ok);
  t.is(r.firstBad?.code, 'E_UNKNOWN_DEVICE');
  t.truthy(dir);
});

test('codec round-trips and rejects garbage', (t) => {
  const e = {
    lib: 'l',
    dev: 'd',
    seq: 3,
    prev: new Uint8Array(32).fill(7),
    hlc: { ms: 5, c: 1 },
    type: 'x.y',
    body: { a: [1, 'two', null] },
  };
  t.deepEqual(decodeEvent(encodeEvent(e)), e);
  t.throws(() => decodeEvent(new Uint8Array([1, 2, 3])), { code: 'E_BAD_EVENT' } as never);
  const db = new Database(':memory:');
  t.teardown(() => db.close());
});

test('the parallel verifier (large logs) finds the first tampered event too', async (t) => {
  const core = await openCore(t);
  const lib = core.libraries.resolve();
  lib.write(() => {
    for (let i = 0; i < 6000; i++) lib.append('library.renamed', { name: `n${i}` });
  });
  const ok = await core.query<{ ok: boolean; events: number }>('log.verify', {});
  t.true(ok.ok);
  t.is(ok.events, 6002);
  const dev = core.device.id;
  const row = lib.db.prepare('SELECT bytes FROM events WHERE dev = ? AND seq = 4321').get(dev) as { bytes: Buffer };
  lib.db
    .prepare('UPDATE events SET bytes = ? WHERE dev = ? AND seq = 4321')
    .run(encodeEvent({ ...decodeEvent(row.bytes), body: { name: 'evil' } }), dev);
  const other = keysFromPem(generateKeys().privatePem);
  const h = lib.db.prepare('SELECT hash FROM events WHERE dev = ? AND seq = 5000').get(dev) as { hash: Buffer };
  lib.db
    .prepare('UPDATE events SET sig = ? WHERE dev = ? AND seq = 5000')
    .run(signBytes(other.privateKey, h.hash), dev);
  const r = await core.query<{ ok: boolean; bad: number; firstBad: { seq: number; code: string } }>('log.verify', {});
  t.false(r.ok);
  t.deepEqual([r.firstBad.seq, r.firstBad.code], [4321, 'E_BAD_HASH']);
  t.is(r.bad, 2);
});

test('heads name every device with its highest seq, found by one index seek per device, not by reading the log', async (t) => {
  const { lib, dev } = await coreWithHistory(t);
  t.deepEqual([...lib.log.heads()], [[dev, 12]]);
  // Rows of other devices, below and above ours in key order (heads read what is stored; the feed verifies).
  const row = lib.db.prepare('SELECT hash, bytes, sig FROM events WHERE dev = ? AND seq = 1').get(dev) as {
    hash: Buffer;
    bytes: Buffer;
    sig: Buffer;
  };
  const put = lib.db.prepare(
    "INSERT INTO events (dev, seq, hash, hlc_ms, hlc_c, type, bytes, sig) VALUES (?, ?, ?, 0, 0, 'x', ?, ?)",
  );
  for (const [d, n] of [
    ['aaaa', 3],
    ['zzzz', 700],
  ] as const)
    for (let s = 1; s <= n; s++) put.run(d, s, row.hash, row.bytes, row.sig);
  t.deepEqual(
    [...lib.log.heads()].sort(),
    [
      ['aaaa', 3],
      [dev, 12],
      ['zzzz', 700],
    ].sort(),
  );
  // The plan seeks the primary key; a full scan of the events (what GROUP BY did) would say SCAN.
  const plan = lib.db.prepare(`EXPLAIN QUERY PLAN ${HEADS_SQL}`).all() as { detail: string }[];
  t.false(
    plan.some((p) => /SCAN events/.test(p.detail)),
    JSON.stringify(plan.map((p) => p.detail)),
  );
  // An empty log has no heads.
  lib.db.exec('DELETE FROM events');
  t.deepEqual([...lib.log.heads()], []);
});

test('event signatures verify against the raw key; a wrong key, a changed hash and malformed input are refused, never thrown', (t) => {
  const k = keysFromPem(generateKeys().privatePem);
  const other = keysFromPem(generateKeys().privatePem);
  const hash = blake3(new TextEncoder().encode('an event'));
  const sig = signBytes(k.privateKey, hash);
  t.true(verifyRaw(k.publicKey, hash, sig));
  t.false(verifyRaw(other.publicKey, hash, sig), 'another device key');
  const changed = hash.slice();
  changed[0]! ^= 1;
  t.false(verifyRaw(k.publicKey, changed, sig), 'another hash');
  t.false(verifyRaw(k.publicKey, hash, sig.subarray(0, 63)), 'a short signature');
  t.false(verifyRaw(k.publicKey, hash, new Uint8Array(65)), 'a long signature');
  t.false(verifyRaw(k.publicKey.subarray(0, 31), hash, sig), 'a short key');
  t.false(verifyRaw(new Uint8Array(32), hash, sig), 'a small-order key');
  t.false(verifyRaw(k.publicKey, hash, new Uint8Array(64)), 'a zero signature');
});

test("the log's libsodium signature is node:crypto's Ed25519 signature, and a stored event's signature checks under both", async (t) => {
  const k = keysFromPem(generateKeys().privatePem);
  const hash = blake3(new TextEncoder().encode('an event'));
  const fast = signRaw(k.secretKey, hash);
  t.deepEqual(
    Buffer.from(fast),
    Buffer.from(signBytes(k.privateKey, hash)),
    'Ed25519 is deterministic: the same bytes',
  );
  t.true(verifyBytes(k.publicKeyObject, hash, fast));
  const other = keysFromPem(generateKeys().privatePem);
  t.false(verifyRaw(k.publicKey, hash, signRaw(other.secretKey, hash)), "another device's secret");
  // through the real path: an appended event's signature, checked by node:crypto and by `log verify`
  const { core, lib, dev } = await coreWithHistory(t);
  const row = lib.db.prepare('SELECT hash, sig FROM events WHERE dev = ? ORDER BY seq DESC LIMIT 1').get(dev) as {
    hash: Buffer;
    sig: Buffer;
  };
  t.true(verifyBytes(core.device.publicKeyObject, row.hash, row.sig));
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
});
