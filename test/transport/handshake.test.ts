import test from 'ava';
import { SdError } from '../../src/errors.js';
import { initHashing } from '../../src/events/hash.js';
import { deviceIdOf } from '../../src/events/keys.js';
import { faulty } from '../../src/transport/faulty.js';
import { deviceIdFromPublicKey } from '../../src/transport/identity.js';
import { openPeerLink } from '../../src/transport/peer-link.js';
import { device, linkOpts, memPair, wsPair } from './helpers.js';

test('device id is base32 of the first 20 bytes of BLAKE3(public key), as the event log derives it', async (t) => {
  await initHashing();
  const d = device();
  const id = await deviceIdFromPublicKey(d.publicKey);
  t.regex(id, /^[a-z2-7]{32}$/);
  t.is(id, deviceIdOf(d.publicKey));
});

for (const [name, pair] of [
  ['memory', async (t: Parameters<typeof memPair>[0]) => memPair(t)],
  ['WebSocket', wsPair],
] as const) {
  test(`handshake succeeds both ways and each side learns the other's device id (${name})`, async (t) => {
    const [ta, tb] = await pair(t);
    const da = device();
    const db = device();
    const seen: string[] = [];
    const [a, b] = await Promise.all([
      openPeerLink(ta, linkOpts(da, { isAllowed: (_k, id) => (seen.push(`a saw ${id}`), true) })),
      openPeerLink(tb, linkOpts(db, { isAllowed: async (_k, id) => (seen.push(`b saw ${id}`), true) })),
    ]);
    t.teardown(() => (a.close('test over'), b.close('test over')));
    t.is(a.peerId, await deviceIdFromPublicKey(db.publicKey));
    t.is(b.peerId, await deviceIdFromPublicKey(da.publicKey));
    t.deepEqual(seen.sort(), [`a saw ${a.peerId}`, `b saw ${b.peerId}`]);
    const atB = new Promise<[string | number, Uint8Array]>((r) => b.once('message', (c, d) => r([c, d])));
    const atA = new Promise<[string | number, Uint8Array]>((r) => a.once('message', (c, d) => r([c, d])));
    a.send('ctl', Buffer.from('hello b'));
    b.send(3, Buffer.from('hello a'));
    t.deepEqual(await atB, ['ctl', new Uint8Array(Buffer.from('hello b'))]);
    t.deepEqual(await atA, [3, new Uint8Array(Buffer.from('hello a'))]);
  });
}

test('an unknown key is refused with E_PEER_NOT_ALLOWED on both sides, before any data', async (t) => {
  const [ta, tb] = memPair(t);
  const stranger = device();
  const me = device();
  const [ra, rb] = await Promise.allSettled([
    openPeerLink(ta, linkOpts(stranger)),
    openPeerLink(tb, linkOpts(me, { isAllowed: () => false })),
  ]);
  t.is(ra.status, 'rejected');
  t.is(rb.status, 'rejected');
  t.is(((ra as PromiseRejectedResult).reason as SdError).code, 'E_PEER_NOT_ALLOWED');
  t.is(((rb as PromiseRejectedResult).reason as SdError).code, 'E_PEER_NOT_ALLOWED');
  t.true(ta.closed && tb.closed, 'the transport itself is closed');
});

test('a forged signature (a key presented without its private key) is refused with E_BAD_HANDSHAKE', async (t) => {
  const [ta, tb] = memPair(t);
  const victim = device();
  const forger = device();
  const me = device();
  let asked = 0;
  const [ra, rb] = await Promise.allSettled([
    // Claims the victim's public key, signs with its own private key.
    openPeerLink(ta, { privateKey: forger.privateKey, publicKey: victim.publicKey, isAllowed: () => true }),
    openPeerLink(tb, linkOpts(me, { isAllowed: () => (asked++, true) })),
  ]);
  t.is(((ra as PromiseRejectedResult).reason as SdError).code, 'E_BAD_HANDSHAKE');
  t.is(((rb as PromiseRejectedResult).reason as SdError).code, 'E_BAD_HANDSHAKE');
  t.is(asked, 0, 'the roster is not even consulted for an unproven key');
});

test('dialing an expected device that answers with another key fails with E_UNEXPECTED_PEER', async (t) => {
  const [ta, tb] = memPair(t);
  const expected = device();
  const impostor = device();
  const [ra] = await Promise.allSettled([
    openPeerLink(ta, linkOpts(device(), { expectPeerId: await deviceIdFromPublicKey(expected.publicKey) })),
    openPeerLink(tb, linkOpts(impostor)),
  ]);
  t.is(((ra as PromiseRejectedResult).reason as SdError).code, 'E_UNEXPECTED_PEER');
});

test('an asynchronous roster check can refuse, and the stranger learns why', async (t) => {
  const [ta, tb] = memPair(t);
  const stranger = openPeerLink(faulty(ta), linkOpts(device()));
  const refused = openPeerLink(
    tb,
    linkOpts(device(), { isAllowed: () => new Promise((r) => setTimeout(() => r(false), 30)) }),
  );
  const [rs, rr] = await Promise.allSettled([stranger, refused]);
  t.is(((rs as PromiseRejectedResult).reason as SdError).code, 'E_PEER_NOT_ALLOWED');
  t.is(((rr as PromiseRejectedResult).reason as SdError).code, 'E_PEER_NOT_ALLOWED');
});

test('a silent peer fails the handshake with E_HANDSHAKE_TIMEOUT', async (t) => {
  const [ta, tb] = memPair(t);
  const silent = faulty(tb);
  silent.silence(true);
  const err = await t.throwsAsync(openPeerLink(ta, linkOpts(device(), { handshakeTimeoutMs: 200 })));
  t.is((err as SdError).code, 'E_HANDSHAKE_TIMEOUT');
});
