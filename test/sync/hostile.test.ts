// Hostile peers against a live listener: garbage after the WebSocket opens, a peer of the old
// cleartext protocol, a replayed handshake and a stranger's key are each refused and counted,
// a thousand stalled connections are mostly turned away at once, and the member keeps syncing.
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { Core } from '../../src/core.js';
import { generateKeys, keysFromPem } from '../../src/events/keys.js';
import { DEFAULT_STRANGER_LIMITS } from '../../src/transport/gate.js';
import { faulty } from '../support/faulty.js';
import { openPeerLink } from '../../src/transport/peer-link.js';
import { LINK_PROTOCOL } from '../../src/transport/handshake.js';
import { connectWs } from '../../src/transport/ws.js';
import { tempDir } from '../helpers.js';
import { eventually } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';
const packr = new Packr({ useRecords: false });

test('garbage, an old-protocol peer, a replayed handshake and a stranger are refused and counted; stalled sockets are turned away; the member keeps syncing', async (t) => {
  const a = await Core.open(tempDir(t));
  const b = await Core.open(tempDir(t));
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.startPeers('127.0.0.1', 0);
  await b.startPeers('127.0.0.1', 0);
  const inv = await a.command<{ code: string }>('pair.invite', {});
  await b.command('pair.join', { code: inv.result!.code });
  const lib = a.libraries.resolve().id;
  const port = a.peers!.port!;
  const refusals = (): Record<string, number> => a.peers!.status().refusals;

  // 1. Garbage right after the WebSocket opens: closed, counted.
  const g = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => g.once('open', r));
  const closed = new Promise((r) => g.once('close', r));
  g.send(Buffer.from('this is not a handshake'));
  await closed;
  t.true(await eventually(() => (refusals().E_BAD_HANDSHAKE ?? 0) === 1, 15_000), JSON.stringify(refusals()));

  // 2. A peer speaking the version-1 cleartext handshake is told, in a form it reads.
  const old = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => old.once('open', r));
  const answer = new Promise<Record<string, unknown>>((r) =>
    old.once('message', (d: Buffer) => r(packr.unpack(d) as Record<string, unknown>)),
  );
  old.send(packr.pack({ t: 'hello', v: 1, pub: b.device.publicKey, nonce: Buffer.alloc(32, 1), mode: 'member' }));
  t.like(await answer, { t: 'refuse', code: 'E_PROTOCOL_VERSION' });
  t.regex(String((await answer).reason), new RegExp(`protocol 1, this device speaks ${LINK_PROTOCOL}:`));
  old.close();
  t.true(await eventually(() => (refusals().E_PROTOCOL_VERSION ?? 0) === 1, 15_000));

  // 3. A stranger's key (not on the roster) is refused before any data.
  const stranger = keysFromPem(generateKeys().privatePem);
  await t.throwsAsync(
    openPeerLink(await connectWs('127.0.0.1', port), {
      role: 'initiator',
      privateKey: stranger.privateKey,
      isAllowed: () => true,
    }),
    { code: 'E_PEER_NOT_ALLOWED' } as never,
  );
  t.true(await eventually(() => (refusals().E_PEER_NOT_ALLOWED ?? 0) === 1, 15_000));

  // 4. A member's handshake, recorded on the path and replayed: no link (fresh ephemeral keys).
  const tap = faulty(await connectWs('127.0.0.1', port));
  const real = await openPeerLink(tap, { role: 'initiator', privateKey: b.device.privateKey, isAllowed: () => true });
  real.close('E_TEST_OVER', 'recorded');
  const replay = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => replay.once('open', r));
  replay.send(tap.sent[0]!);
  await new Promise((r) => replay.once('message', r)); // the listener's own hello
  replay.send(tap.sent[1]!);
  await new Promise((r) => replay.once('close', r));
  t.true(await eventually(() => (refusals().E_BAD_HANDSHAKE ?? 0) === 2, 15_000), JSON.stringify(refusals()));

  // 5. A thousand connections that never speak: a few are held (per address), the rest closed at
  //    once and counted, and none is held past the handshake deadline.
  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  let cut = 0;
  for (let i = 0; i < 1000; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.once('close', () => cut++);
    sockets.push(s);
  }
  const held = 1000 - DEFAULT_STRANGER_LIMITS.perAddress;
  t.true(await eventually(() => cut >= held, 10_000), `${cut} closed`);
  t.true(await eventually(() => (refusals().E_TOO_MANY_STRANGERS ?? 0) >= held, 15_000), JSON.stringify(refusals()));
  t.is(a.peers!.strangers, DEFAULT_STRANGER_LIMITS.perAddress);
  for (const s of sockets) s.destroy();
  t.true(await eventually(() => a.peers!.strangers === 0, 15_000), `${a.peers!.strangers} strangers held`);

  // 6. The member still syncs: a tag made on A arrives on B.
  await b.libraries.resolve(lib).sharedOpening;
  await a.command('tag.create', { name: 'still-syncing' });
  t.true(
    await eventually(
      () => !!b.libraries.resolve(lib).db.prepare("SELECT 1 FROM tags WHERE name = 'still-syncing'").get(),
      15_000,
    ),
  );
});
