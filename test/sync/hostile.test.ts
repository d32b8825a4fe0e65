// Hostile peers against a live listener: garbage after the WebSocket opens, a replayed
// handshake proof and a stranger's key are each refused or disconnected and counted, and the
// honest member keeps syncing.
import test from 'ava';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { Core } from '../../src/core.js';
import { generateKeys, keysFromPem } from '../../src/events/keys.js';
import { handshake } from '../../src/transport/handshake.js';
import { dialWs } from '../../src/transport/ws.js';
import { tempDir } from '../helpers.js';

process.env.SD_P2P_HOST = '127.0.0.1';
const packr = new Packr({ useRecords: false });

async function until(cond: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

test('garbage, a replayed proof and a stranger are refused and counted; the member keeps syncing', async (t) => {
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

  // 1. Garbage right after the WebSocket opens: closed, counted.
  const g = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => g.once('open', r));
  const closed = new Promise((r) => g.once('close', r));
  g.send(Buffer.from('this is not a handshake'));
  g.send(Buffer.alloc(70_000, 7));
  await closed;
  t.true(
    await until(
      () => (a.peers!.status().refusals.E_BAD_HANDSHAKE ?? 0) + (a.peers!.status().refusals.E_HANDSHAKE ?? 0) > 0,
    ),
  );

  // 2. A stranger's key (not on the roster) is refused before any data.
  const stranger = keysFromPem(generateKeys().privatePem);
  const ws = await dialWs('127.0.0.1', port);
  await t.throwsAsync(
    handshake(ws, {
      privateKey: stranger.privateKey,
      publicKey: stranger.publicKey,
      mode: 'member',
      isAllowed: () => true,
      remoteAddress: 'x',
    }),
    { code: 'E_PEER_NOT_ALLOWED' } as never,
  );

  // 3. A replayed proof (recorded from another session) fails: the nonce differs.
  const ws2 = await dialWs('127.0.0.1', port);
  const msgs: unknown[] = [];
  ws2.on('message', (d: Buffer) => msgs.push(d));
  ws2.send(packr.pack({ t: 'hello', v: 1, pub: b.device.publicKey, nonce: Buffer.alloc(32, 1), mode: 'member' }));
  ws2.send(packr.pack({ t: 'proof', sig: Buffer.alloc(64, 9) }));
  await new Promise((r) => ws2.once('close', r));
  t.true(await until(() => (a.peers!.status().refusals.E_BAD_HANDSHAKE ?? 0) >= 2));

  // 4. The member still syncs: a tag made on A arrives on B.
  await b.libraries.resolve(lib).sharedOpening;
  await a.command('tag.create', { name: 'still-syncing' });
  t.true(
    await until(() => !!b.libraries.resolve(lib).db.prepare("SELECT 1 FROM tags WHERE name = 'still-syncing'").get()),
  );
});
