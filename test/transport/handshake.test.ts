import test from 'ava';
import { Packr } from 'msgpackr';
import { SdError } from '../../src/errors.js';
import { deviceIdOf } from '../../src/events/keys.js';
import { faulty, memoryPair } from '../support/faulty.js';
import { deviceIdFromPublicKey } from '../../src/transport/identity.js';
import { LINK_PROTOCOL } from '../../src/transport/handshake.js';
import { openPeerLink } from '../../src/transport/peer-link.js';
import { device, linkOpts, linkPair, memPair, outcomes } from './helpers.js';

const packr = new Packr({ useRecords: false });

test('device id is base32 of the first 20 bytes of BLAKE3(public key), as the event log derives it', async (t) => {
  const d = device();
  const id = await deviceIdFromPublicKey(d.publicKey);
  t.regex(id, /^[a-z2-7]{32}$/);
  t.is(id, deviceIdOf(d.publicKey));
});

test('the Noise static key is the device key: the peer id a link reports is the device id of the key that signs its events', async (t) => {
  const { a, b, da, db } = await linkPair(t, await memPair(t));
  t.deepEqual(a.peerPublicKey, db.publicKey);
  t.deepEqual(b.peerPublicKey, da.publicKey);
  t.is(a.peerId, deviceIdOf(db.publicKey));
});

test('a silent peer fails the handshake with E_HANDSHAKE_TIMEOUT, on either side', async (t) => {
  for (const role of ['initiator', 'responder'] as const) {
    const [ta, tb] = memoryPair();
    t.teardown(() => (ta.close(), tb.close()));
    faulty(tb).silence(true);
    const err = await t.throwsAsync(openPeerLink(ta, linkOpts(device(), role, { handshakeTimeoutMs: 150 })));
    t.is((err as SdError).code, 'E_HANDSHAKE_TIMEOUT');
    t.true(ta.closed, 'the transport is closed');
  }
});

test('garbage before or inside the handshake is refused with E_BAD_HANDSHAKE, said in the clear, and the transport closed', async (t) => {
  const cases: Uint8Array[] = [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    packr.pack([1, 2, 3]),
    packr.pack({ t: 'hello', v: LINK_PROTOCOL }),
    packr.pack({ t: 'hello', v: LINK_PROTOCOL, noise: new Uint8Array(7) }),
    packr.pack({ t: 'auth', noise: new Uint8Array(96) }),
    // A low-order point as the ephemeral key.
    packr.pack({ t: 'hello', v: LINK_PROTOCOL, noise: new Uint8Array(32) }),
  ];
  for (const bytes of cases) {
    const [ta, tb] = memoryPair();
    t.teardown(() => (ta.close(), tb.close()));
    const refused: unknown[] = [];
    ta.onMessage((m) => refused.push(packr.unpack(m)));
    const victim = openPeerLink(tb, linkOpts(device(), 'responder'));
    ta.send(bytes);
    t.deepEqual(await outcomes(victim), ['E_BAD_HANDSHAKE'], Buffer.from(bytes).toString('hex').slice(0, 40));
    const end = Date.now() + 2000;
    while (!tb.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    t.true(tb.closed);
    // The refusal is sent in the clear (no session exists); the stranger is cut shortly after.
    t.like(refused[0], { t: 'refuse', code: 'E_BAD_HANDSHAKE' });
  }
});

test('an asynchronous roster check can refuse with its own code, and the initiator learns it inside the session', async (t) => {
  const [ta, tb] = await memPair(t);
  const r = await outcomes(
    openPeerLink(ta, linkOpts(device(), 'initiator')),
    openPeerLink(
      tb,
      linkOpts(device(), 'responder', {
        isAllowed: () =>
          new Promise((res) => setTimeout(() => res({ code: 'E_PAIR_LOCKED_OUT', message: 'try later' }), 30)),
      }),
    ),
  );
  t.deepEqual(r, ['E_PAIR_LOCKED_OUT', 'E_PAIR_LOCKED_OUT']);
});
