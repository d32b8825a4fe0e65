// How long a peer link takes to be useful: from dialing to both sides having heard the other's
// feed heads, over the encrypted WebSocket PeerLink on loopback (TCP connect, WebSocket upgrade,
// Noise XX, the responder's verdict, one heads exchange each way). The peer figure, from the same
// run, is the floor without any security: a plain WebSocket connect and the same heads messages.
// Usage: node dist/bench/handshake.js   (RUNS=... to change the count)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { Core } from '../src/core.js';
import { pack } from '../src/events/codec.js';
import type { Library } from '../src/library/library.js';
import { FeedSession } from '../src/sync/feed.js';
import { linkChannel } from '../src/sync/mux-channel.js';
import { openPeerLink } from '../src/transport/peer-link.js';
import type { PeerLink } from '../src/transport/types.js';
import { connectWs, listenWs } from '../src/transport/ws.js';

const RUNS = Number(process.env.RUNS ?? 30);
process.env.SD_MDNS = 'off';

/** Starts a feed session on the link and resolves when the peer's first feed message (its heads) arrived. */
function feed(lib: Library, link: PeerLink): Promise<void> {
  return new Promise((resolve) => {
    const ch = linkChannel(link, `feed:${lib.id}`);
    ch.onMessage(() => resolve());
    new FeedSession(lib, ch).start();
  });
}

const pct = (xs: number[], p: number): number => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) * p)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-hs-'));
  const a = await Core.open(join(dir, 'a'), { services: false });
  const b = await Core.open(join(dir, 'b'), { services: false });
  try {
    const la = a.libraries.resolve();
    la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: 'b' }));
    la.flush();
    const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
    const roster = (lib: Library) => (_k: Uint8Array, dev: string) => !!lib.keyOf(dev);
    let accepted: ((l: Promise<void>) => void) | undefined;
    const links: PeerLink[] = [];
    const listener = await listenWs({ host: '127.0.0.1', port: 0 }, (t, ticket) => {
      accepted?.(
        openPeerLink(t, { role: 'responder', privateKey: a.device.privateKey, isAllowed: roster(la) }).then((l) => {
          ticket.release();
          links.push(l);
          return feed(la, l);
        }),
      );
    });
    const ours: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const serverSide = new Promise<Promise<void>>((r) => (accepted = r));
      const t0 = performance.now();
      const link = await openPeerLink(await connectWs('127.0.0.1', listener.port), {
        role: 'initiator',
        privateKey: b.device.privateKey,
        expectPeerId: a.device.id,
        isAllowed: roster(lb),
      });
      links.push(link);
      await Promise.all([feed(lb, link), await serverSide]);
      ours.push(performance.now() - t0);
      for (const l of links.splice(0)) l.close('E_BENCH', 'next run');
    }
    await listener.close();

    // The floor: the same exchange with no handshake and no encryption.
    const heads = pack({ t: 'heads', heads: [...la.log.heads()] });
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => ws.once('message', () => ws.send(heads)));
    const floor: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      await new Promise((r) => ws.once('open', r));
      const got = new Promise((r) => ws.once('message', r));
      ws.send(heads);
      await got;
      floor.push(performance.now() - t0);
      ws.terminate();
    }
    wss.close();
    const f = (x: number): string => x.toFixed(1);
    console.log(`dial to first heads exchange on loopback, ${RUNS} runs:`);
    console.log(
      `  encrypted PeerLink (TCP + WebSocket + Noise XX + verdict + heads): p50 ${f(pct(ours, 0.5))} ms, p90 ${f(pct(ours, 0.9))} ms, max ${f(Math.max(...ours))} ms (target <= 50 ms)`,
    );
    console.log(
      `  plain WebSocket and the same heads, no security: p50 ${f(pct(floor, 0.5))} ms, p90 ${f(pct(floor, 0.9))} ms; ratio at p50 ${(pct(ours, 0.5) / pct(floor, 0.5)).toFixed(2)}`,
    );
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
