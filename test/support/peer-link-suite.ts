// The PeerLink acceptance suite: every transport (WebSocket, WebRTC data channel, memory) runs
// these same tests, as automerge-repo's adapters run its adapter suites. A transport passes when
// the link over it keeps order, loses nothing, carries big messages, pushes back, closes and is
// cut the same way, refuses wrong, unknown and revoked keys, and closes with a named code on any
// replayed handshake, flipped byte, dropped, replayed or reordered record, or spliced session.
import avaTest from 'ava';
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import Noise from 'noise-handshake';
import curve from 'noise-curve-ed';
import { SdError } from '../../src/errors.js';
import { faulty, type Fault } from './faulty.js';
import { LINK_PROTOCOL } from '../../src/transport/handshake.js';
import { openPeerLink } from '../../src/transport/peer-link.js';
import type { MessageTransport, PeerLink } from '../../src/transport/types.js';
import {
  burst,
  closed,
  device,
  linkOpts,
  linkPair,
  outcomes,
  type Device,
  type TransportPair,
} from '../transport/helpers.js';

const packr = new Packr({ useRecords: false });
const has = (haystack: Uint8Array[], needle: Uint8Array): boolean =>
  haystack.some((h) => Buffer.from(h).indexOf(Buffer.from(needle)) >= 0);
const message = (l: PeerLink): Promise<[string | number, Uint8Array]> =>
  new Promise((r) => l.once('message', (ch, d) => r([ch, d])));

/**
 * `serial`: one test at a time. WebRTC needs it on this 2-core machine: sixteen tests negotiating
 * ICE at once while others push 160 MB bursts sometimes starve a connection check into 'failed'.
 */
export function peerLinkAcceptance(name: string, pair: TransportPair, opts: { serial?: boolean } = {}): void {
  const test = opts.serial ? avaTest.serial : avaTest;
  test(`${name}: the handshake proves both device ids, and neither keys nor payloads cross in the clear`, async (t) => {
    const [ta, tb] = await pair(t);
    const fa = faulty(ta);
    const fb = faulty(tb);
    const seen: string[] = [];
    const { a, b, da, db } = await linkPair(
      t,
      [fa, fb],
      { isAllowed: (_k, id) => (seen.push(`a saw ${id}`), true) },
      { isAllowed: async (_k, id) => (seen.push(`b saw ${id}`), true) },
    );
    t.is(a.peerId, db.id);
    t.is(b.peerId, da.id);
    t.deepEqual(seen.sort(), [`a saw ${db.id}`, `b saw ${da.id}`]);
    t.deepEqual(a.handshakeHash, b.handshakeHash, 'both ends agree on the session');
    const secret = Buffer.from('holiday-photos/2026/beach.jpg');
    const atB = message(b);
    const atA = message(a);
    a.send('feed:lib', secret);
    b.send(3, secret);
    t.deepEqual(await atB, ['feed:lib', new Uint8Array(secret)]);
    t.deepEqual(await atA, [3, new Uint8Array(secret)]);
    const wire = [...fa.sent, ...fb.sent];
    t.false(has(wire, secret), 'the payload is not on the wire');
    t.false(has(wire, da.publicKey) || has(wire, db.publicKey), 'the static keys travel encrypted');
  });

  test(`${name}: 10,000 messages of mixed sizes up to 4 MiB, on named and numbered channels, arrive complete and in order`, async (t) => {
    const { a, b } = await linkPair(t, await pair(t));
    const { ms, bytes } = await burst(t, a, b, 10_000, 4 * 1024 * 1024);
    t.log(
      `${(bytes / 1e6).toFixed(0)} MB in ${(ms / 1000).toFixed(2)} s = ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`,
    );
    const s = a.stats();
    t.is(s.sentMessages, 10_000);
    t.true(s.sentRecords > s.sentMessages, 'big messages were cut into records');
  });

  test(`${name}: a 16 MiB message arrives whole; a bigger one is refused on send, and a peer that sends one anyway is cut with E_FRAME_TOO_LARGE`, async (t) => {
    const { a, b } = await linkPair(t, await pair(t));
    const big = new Uint8Array(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
    const got = message(b);
    a.send('feed:lib', big);
    t.true(Buffer.from((await got)[1]).equals(Buffer.from(big)));
    t.throws(() => a.send('feed:lib', new Uint8Array(big.length + 1)), { code: 'E_FRAME_TOO_LARGE' } as never);
    // A peer with a larger limit of its own sends one anyway: the receiver stops at its limit.
    const { a: loud, b: victim } = await linkPair(t, await pair(t), { maxMessageBytes: 64 * 1024 * 1024 }, {});
    const cut = closed(victim);
    loud.send('feed:lib', new Uint8Array(16 * 1024 * 1024 + 1));
    t.like(await cut, { code: 'E_FRAME_TOO_LARGE' });
    t.like(await closed(loud), { code: 'E_FRAME_TOO_LARGE', byPeer: true });
  });

  test(`${name}: backpressure: send turns false above the high-water mark, 'drain' follows, and the queue is capped (E_LINK_QUEUE_FULL)`, async (t) => {
    const limits = { highWaterBytes: 256 * 1024, maxQueuedBytes: 2 * 1024 * 1024 };
    const { a, b } = await linkPair(t, await pair(t), limits);
    let received = 0;
    b.on('message', () => received++);
    const m = new Uint8Array(64 * 1024);
    let sent = 0;
    while (sent < 1000 && a.send('feed:lib', m)) sent++;
    sent++;
    // (No second look at bufferedAmount here: a data channel drains on its own thread meanwhile.)
    t.true(sent < 1000, 'send turned false');
    const drained = new Promise<void>((r) => a.once('drain', r));
    let refused: unknown;
    for (let i = 0; i < 1000 && !refused; i++) {
      try {
        a.send('feed:lib', m);
        sent++;
      } catch (e) {
        refused = e;
      }
    }
    t.is((refused as SdError | undefined)?.code, 'E_LINK_QUEUE_FULL');
    t.true(a.bufferedAmount() <= limits.maxQueuedBytes + m.length + 64 * 1024, `queued ${a.bufferedAmount()}`);
    await drained;
    t.true(a.bufferedAmount() <= limits.highWaterBytes);
    const end = Date.now() + 20_000;
    while (received < sent && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    t.is(received, sent, 'everything accepted by send arrived');
    t.true(a.isOpen && b.isOpen);
  });

  test(`${name}: close carries {code, message} to both sides; send after it throws E_LINK_CLOSED`, async (t) => {
    const { a, b } = await linkPair(t, await pair(t));
    const atA = closed(a);
    const atB = closed(b);
    b.close('E_SHUTDOWN', 'the peer is shutting down');
    t.deepEqual(await atB, { code: 'E_SHUTDOWN', message: 'the peer is shutting down' });
    t.deepEqual(await atA, { code: 'E_SHUTDOWN', message: 'the peer is shutting down', byPeer: true });
    t.false(a.isOpen);
    t.throws(() => a.send('ctl', new Uint8Array(1)), { code: 'E_LINK_CLOSED' } as never);
    t.throws(() => b.send('ctl', new Uint8Array(1)), { code: 'E_LINK_CLOSED' } as never);
  });

  test(`${name}: a cut transport closes both ends with E_LINK_CUT; a peer gone silent is closed with E_HEARTBEAT`, async (t) => {
    const [ta, tb] = await pair(t);
    const fa = faulty(ta);
    const { a, b } = await linkPair(t, [fa, tb]);
    const atA = closed(a);
    const atB = closed(b);
    fa.cut();
    t.like(await atA, { code: 'E_LINK_CUT' });
    t.like(await atB, { code: 'E_LINK_CUT' });

    const [tc, td] = await pair(t);
    const fc = faulty(tc);
    const fd = faulty(td);
    const { a: c, b: d } = await linkPair(t, [fc, fd], { heartbeatMs: 50, missedHeartbeats: 3 });
    const started = Date.now();
    const atC = closed(c);
    const atD = closed(d);
    fc.silence(true);
    fd.silence(true);
    t.like(await atC, { code: 'E_HEARTBEAT' });
    t.like(await atD, { code: 'E_HEARTBEAT' });
    t.true(Date.now() - started >= 100, `closed after ${Date.now() - started} ms`);
  });

  test(`${name}: wrong keys: a stranger is refused on both sides before any data, a dialed device answering with another key is E_UNEXPECTED_PEER, a key claimed without its private key fails`, async (t) => {
    const me = device();
    {
      const [ta, tb] = await pair(t);
      let delivered = 0;
      const r = await outcomes(
        openPeerLink(ta, linkOpts(device(), 'initiator')),
        openPeerLink(tb, linkOpts(me, 'responder', { isAllowed: () => false })).then((l) => (delivered++, l)),
      );
      t.deepEqual(r, ['E_PEER_NOT_ALLOWED', 'E_PEER_NOT_ALLOWED']);
      t.is(delivered, 0);
    }
    {
      const [ta, tb] = await pair(t);
      let impostorAsked = 0;
      const r = await outcomes(
        openPeerLink(ta, linkOpts(me, 'initiator', { expectPeerId: device().id })),
        openPeerLink(tb, linkOpts(device(), 'responder', { isAllowed: () => (impostorAsked++, true) })),
      );
      t.is(r[0], 'E_UNEXPECTED_PEER');
      t.is(typeof r[1], 'string');
      t.is(impostorAsked, 0, 'the dialer never revealed its key to the impostor');
    }
    {
      const [ta, tb] = await pair(t);
      const victim = device();
      let asked = 0;
      const responder = openPeerLink(tb, linkOpts(me, 'responder', { isAllowed: () => (asked++, true) }));
      await forgedInitiator(ta, victim);
      t.deepEqual(await outcomes(responder), ['E_BAD_HANDSHAKE']);
      t.is(asked, 0, 'the roster is not even consulted for an unproven key');
    }
  });

  test(`${name}: a revoked key: its open link is closed with E_REVOKED, and its next handshake is refused with E_REVOKED on both sides`, async (t) => {
    const revoked = new Set<string>();
    const roster = (_k: Uint8Array, id: string) =>
      revoked.has(id) ? { code: 'E_REVOKED', message: `device ${id.slice(0, 8)} was revoked` } : true;
    const { a, b, da } = await linkPair(t, await pair(t), { isAllowed: roster });
    revoked.add(da.id);
    const atA = closed(a);
    b.close('E_REVOKED', 'the device was revoked');
    t.like(await atA, { code: 'E_REVOKED', byPeer: true });
    const [ta, tb] = await pair(t);
    t.deepEqual(
      await outcomes(
        openPeerLink(ta, linkOpts(da, 'initiator')),
        openPeerLink(tb, linkOpts(device(), 'responder', { isAllowed: roster })),
      ),
      ['E_REVOKED', 'E_REVOKED'],
    );
  });

  test(`${name}: a replayed handshake makes no link (E_BAD_HANDSHAKE)`, async (t) => {
    const [ta, tb] = await pair(t);
    const fa = faulty(ta);
    const member = device();
    const responderKey = device();
    await linkPair(t, [fa, tb]);
    const recorded = fa.sent.slice(0, 2); // hello and auth, as a recorder on the path saw them
    const [tc, td] = await pair(t);
    let asked = 0;
    const victim = openPeerLink(
      td,
      linkOpts(responderKey, 'responder', { isAllowed: (_k, id) => (asked++, id === member.id) }),
    );
    tc.onMessage(() => undefined);
    tc.send(recorded[0]!);
    await new Promise((r) => setTimeout(r, 50));
    tc.send(recorded[1]!);
    t.deepEqual(await outcomes(victim), ['E_BAD_HANDSHAKE']);
    t.is(asked, 0);
  });

  for (const [fault, code] of [
    ['flip', 'E_FRAME_TAMPERED'],
    ['drop', 'E_FRAME_MISSING'],
    ['replay', 'E_FRAME_REPLAYED'],
    ['reorder', 'E_FRAME_MISSING'],
  ] as const)
    test(`${name}: a record ${fault === 'flip' ? 'with a flipped byte' : fault === 'drop' ? 'dropped' : `${fault}ed`} in transit closes the link with ${code}`, async (t) => {
      const [ta, tb] = await pair(t);
      const fa = faulty(ta);
      const { a, b } = await linkPair(t, [fa, tb]);
      let delivered = 0;
      b.on('message', () => delivered++);
      const atA = closed(a);
      const atB = closed(b);
      fa.arm(fault as Fault);
      a.send('feed:lib', Buffer.from('first message'));
      a.send('feed:lib', Buffer.from('second message'));
      a.send('feed:lib', Buffer.from('third message'));
      t.like(await atB, { code });
      t.like(await atA, { code, byPeer: true });
      t.true(delivered <= 1, 'nothing after the fault was delivered');
    });

  test(`${name}: a relay that splices two sessions is caught: a record of one session injected into another is E_FRAME_TAMPERED, handshake messages mixed between sessions E_BAD_HANDSHAKE`, async (t) => {
    const [t1a, t1b] = await pair(t);
    const f1 = faulty(t1a);
    const s1 = await linkPair(t, [f1, t1b]);
    const [t2a, t2b] = await pair(t);
    const f2 = faulty(t2a);
    const s2 = await linkPair(t, [f2, t2b]);
    const got = message(s1.b);
    s1.a.send('feed:lib', Buffer.from('a record of session 1'));
    await got;
    const cut = closed(s2.b);
    f2.inject(f1.sent[f1.sent.length - 1]!);
    t.like(await cut, { code: 'E_FRAME_TAMPERED' });

    // The proof of session 1's initiator, spliced into session 3's handshake.
    const [t3a, t3b] = await pair(t);
    const f3 = faulty(t3a);
    f3.arm(null, { replace: f1.sent[1]! }); // the hello goes through; session 1's auth replaces the real one
    const r = await outcomes(
      openPeerLink(f3, linkOpts(device(), 'initiator')),
      openPeerLink(t3b, linkOpts(device(), 'responder')),
    );
    t.is(r[1], 'E_BAD_HANDSHAKE');
    t.is(typeof r[0], 'string', 'the initiator got no link either');
  });

  test(`${name}: a peer on protocol 4 (ChaCha20-Poly1305 for every record) is refused by name with E_PROTOCOL_VERSION`, async (t) => {
    const [ta, tb] = await pair(t);
    const r = await Promise.allSettled([
      openPeerLink(ta, linkOpts(device(), 'initiator', { protocolVersion: 4 })),
      openPeerLink(tb, linkOpts(device(), 'responder')),
    ]);
    for (const x of r) {
      t.is(x.status, 'rejected');
      const e = (x as PromiseRejectedResult).reason as SdError;
      t.is(e.code, 'E_PROTOCOL_VERSION');
      t.regex(e.message, new RegExp(`\\b4\\b.*\\b${LINK_PROTOCOL}\\b|\\b${LINK_PROTOCOL}\\b.*\\b4\\b`));
    }
  });

  test(`${name}: a bulk message (a file chunk) crosses in AES-256-GCM records, in order with small ones; a flipped byte in one is E_FRAME_TAMPERED`, async (t) => {
    const [ta, tb] = await pair(t);
    const fa = faulty(ta);
    const { a, b } = await linkPair(t, [fa, tb]);
    const chunk = new Uint8Array(randomBytes(1024 * 1024 + 41));
    const got: [string | number, Uint8Array][] = [];
    b.on('message', (ch, d) => got.push([ch, d]));
    const before = fa.sent.length;
    a.send('xfer', chunk, { bulk: true });
    a.send('feed:lib', Buffer.from('small'));
    const end = Date.now() + 10_000;
    while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    t.true(Buffer.from(got[0]![1]).equals(Buffer.from(chunk)));
    t.deepEqual(got[1], ['feed:lib', new Uint8Array(Buffer.from('small'))]);
    const cipherBits = fa.sent.slice(before).map((rec) => (rec[7]! & 0x80) !== 0);
    // The chunk's records (one where the transport carries a whole chunk), then the small message's
    // (and perhaps a heartbeat's): AES-GCM for the first, ChaCha20-Poly1305 for the others.
    const firstChaCha = cipherBits.indexOf(false);
    t.true(firstChaCha > 0 && cipherBits.slice(firstChaCha).every((x) => !x), String(cipherBits));
    if (ta.maxMessageSize > 1024 * 1024 + 100) t.is(firstChaCha, 1, 'a chunk in one record');
    t.false(has(fa.sent.slice(before), chunk.subarray(5000, 5032)), 'the chunk is not on the wire');
    const cut = closed(b);
    fa.arm('flip');
    a.send('xfer', chunk, { bulk: true });
    t.like(await cut, { code: 'E_FRAME_TAMPERED' });
    t.is(got.length, 2, 'nothing of the tampered chunk was delivered');
  });

  test(`${name}: a peer on another wire-protocol version is refused with E_PROTOCOL_VERSION naming both versions`, async (t) => {
    const [ta, tb] = await pair(t);
    const r = await Promise.allSettled([
      openPeerLink(ta, linkOpts(device(), 'initiator', { protocolVersion: LINK_PROTOCOL + 1 })),
      openPeerLink(tb, linkOpts(device(), 'responder')),
    ]);
    for (const x of r) {
      t.is(x.status, 'rejected');
      const e = (x as PromiseRejectedResult).reason as SdError;
      t.is(e.code, 'E_PROTOCOL_VERSION');
      t.regex(e.message, new RegExp(`${LINK_PROTOCOL}.*${LINK_PROTOCOL + 1}|${LINK_PROTOCOL + 1}.*${LINK_PROTOCOL}`));
    }
    // A version-1 peer (the cleartext challenge-response) speaks first with its own hello.
    const [tc, td] = await pair(t);
    const answers: unknown[] = [];
    tc.onMessage((m) => answers.push(packr.unpack(m)));
    const v2 = openPeerLink(td, linkOpts(device(), 'responder'));
    tc.send(packr.pack({ t: 'hello', v: 1, pub: device().publicKey, nonce: new Uint8Array(32), mode: 'member' }));
    const [err] = await Promise.allSettled([v2]);
    t.is(((err as PromiseRejectedResult).reason as SdError).code, 'E_PROTOCOL_VERSION');
    t.regex(
      ((err as PromiseRejectedResult).reason as SdError).message,
      new RegExp(`protocol 1, this device speaks ${LINK_PROTOCOL}:`),
    );
    const end = Date.now() + 2000;
    while (!answers.length && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    t.like(answers[0], { t: 'refuse', code: 'E_PROTOCOL_VERSION' }, 'the old peer is told, in a form it reads');
  });

  test(`${name}: a stranger admitted only to pair is closed with E_PEER_NOT_ALLOWED when it uses another channel`, async (t) => {
    const { a, b } = await linkPair(t, await pair(t), { mode: 'pair' }, {});
    t.is(b.mode, 'pair');
    b.restrict('pair');
    const got = message(b);
    a.send('pair', Buffer.from('join'));
    t.deepEqual(await got, ['pair', new Uint8Array(Buffer.from('join'))]);
    const atA = closed(a);
    a.send('feed:lib', Buffer.from('not allowed yet'));
    t.like(await atA, { code: 'E_PEER_NOT_ALLOWED', byPeer: true });
  });
}

/** An initiator that claims `victim`'s public key without its private key. */
async function forgedInitiator(tr: MessageTransport, victim: Device): Promise<void> {
  const forger = curve.generateKeyPair();
  const noise = new Noise(
    'XX',
    true,
    { publicKey: Buffer.from(victim.publicKey), secretKey: forger.secretKey },
    { curve },
  );
  noise.initialise(Buffer.from(`vdfs-link/${LINK_PROTOCOL}`));
  const reply = new Promise<Record<string, Uint8Array>>((r) =>
    tr.onMessage((m) => r(packr.unpack(m) as Record<string, Uint8Array>)),
  );
  tr.send(packr.pack({ t: 'hello', v: LINK_PROTOCOL, noise: noise.send() }));
  noise.recv((await reply).noise!);
  tr.send(packr.pack({ t: 'auth', noise: noise.send(packr.pack({ mode: 'member' })) }));
}
