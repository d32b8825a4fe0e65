// Initial replication of a 100,000-entry index (walk order, as the indexer emits it) from A to B
// over the encrypted PeerLink, on a WebRTC data channel (node-datachannel on 127.0.0.1, no
// STUN/TURN) and on a WebSocket, each against the same run with records left unencrypted (the
// bench-only switch): the cost of encryption. All runs use the same FeedSession (verify + append
// + project); only the transport and the cipher differ.
// Usage: node dist/bench/replicate-rtc.js   (N_ENTRIES=... to change the size)
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core.js';
import { SEP, type EntryTuple } from '../src/projections/entries.js';
import { FeedSession } from '../src/sync/feed.js';
import { linkChannel } from '../src/sync/mux-channel.js';
import { openPeerLink } from '../src/transport/peer-link.js';
import { openWebRtc, type RtcSignal } from '../src/transport/webrtc.js';
import { connectWs, listenWs } from '../src/transport/ws.js';
import type { MessageTransport, PeerLink } from '../src/transport/types.js';
import type { Library } from '../src/library/library.js';
import { newLocationId } from '../src/projections/rules.js';
import { setCleartextLinksForBench } from '../src/transport/secure.js';

const N = Number(process.env.N_ENTRIES ?? 100_000);
process.env.SD_MDNS = 'off';

async function until(cond: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rtcPair(): Promise<{ pair: [MessageTransport, MessageTransport]; close(): void }> {
  const relay = (to: () => { receive(s: RtcSignal): void }) => (s: RtcSignal) => setImmediate(() => to().receive(s));
  const ra = openWebRtc({ role: 'offerer', bindAddress: '127.0.0.1', signal: relay(() => rb), name: 'a' });
  const rb = openWebRtc({ role: 'answerer', bindAddress: '127.0.0.1', signal: relay(() => ra), name: 'b' });
  return { pair: await Promise.all([ra.transport, rb.transport]), close: () => (ra.close(), rb.close()) };
}

async function wsPair(): Promise<{ pair: [MessageTransport, MessageTransport]; close(): void }> {
  let accepted!: (t: MessageTransport) => void;
  const inbound = new Promise<MessageTransport>((r) => (accepted = r));
  const l = await listenWs({ host: '127.0.0.1', port: 0 }, (t) => accepted(t));
  const out = await connectWs('127.0.0.1', l.port);
  return { pair: [out, await inbound], close: () => void l.close() };
}

/** A fresh A with the index and a B that joined its library; returns ms until B has it all. */
interface Run {
  ms: number;
  /** CPU time of this process (both cores, all threads) during the replication. */
  cpuMs: number;
  entries: number;
}

async function replicate(transport: 'webrtc' | 'ws', cleartext: boolean): Promise<Run> {
  setCleartextLinksForBench(cleartext);
  const dir = mkdtempSync(join(tmpdir(), 'sd-repl-rtc-'));
  const a = await Core.open(join(dir, 'a'), { services: false });
  const b = await Core.open(join(dir, 'b'), { services: false });
  const links: PeerLink[] = [];
  let closeTransport = (): void => {};
  try {
    const la = a.libraries.resolve();
    la.write(() => la.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: 'b' }));
    const loc = newLocationId(a.device.id);
    la.write(() => la.append('location.added', { id: loc, path: '/on/a', name: 'bench', watch: false, rules: {} }));
    const rows: EntryTuple[] = [];
    for (let d = 0; d < 1000; d++) rows.push([`d${d}`, 1, 0, 1.7e12, N + 10 + d, 'folder']);
    for (let i = 0; i < N; i++) rows.push([`d${i % 1000}${SEP}file-${i}.txt`, 0, i, 1.7e12 + i, i + 10, 'text']);
    rows.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    la.write(() => {
      for (let i = 0; i < rows.length; i += 1000) la.append('entries.upserted', { loc, e: rows.slice(i, i + 1000) });
    });
    la.flush();
    const lb = await b.libraries.join(la.id, { dev: a.device.id, pubkey: a.device.publicKey });
    const { pair, close } = transport === 'webrtc' ? await rtcPair() : await wsPair();
    closeTransport = close;
    const roster = (lib: Library) => (_pub: Uint8Array, peer: string) => !!lib.keyOf(peer);
    links.push(
      ...(await Promise.all([
        openPeerLink(pair[0], {
          role: 'initiator',
          privateKey: a.device.privateKey,
          isAllowed: roster(la),
          expectPeerId: b.device.id,
        }),
        openPeerLink(pair[1], {
          role: 'responder',
          privateKey: b.device.privateKey,
          isAllowed: roster(lb),
          expectPeerId: a.device.id,
        }),
      ])),
    );
    if (links[0]!.kind !== (transport === 'ws' ? 'lan-ws' : 'webrtc'))
      throw new Error(`expected a ${transport} link, got ${links[0]!.kind}`);
    const heads = (l: Library): string => JSON.stringify([...l.log.heads()].sort());
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    new FeedSession(la, linkChannel(links[0]!, `feed:${la.id}`)).start();
    new FeedSession(lb, linkChannel(links[1]!, `feed:${la.id}`)).start();
    await until(() => heads(la) === heads(lb));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const entries = (lb.db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
    if (entries !== rows.length) throw new Error(`B has ${entries} entries, A ${rows.length}`);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, entries };
  } finally {
    for (const l of links) l.close('E_BENCH_OVER', 'bench over');
    closeTransport();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const best = async (t: 'webrtc' | 'ws', cleartext: boolean): Promise<Run> => {
  const runs = [await replicate(t, cleartext), await replicate(t, cleartext)];
  return runs.reduce((x, y) => (y.ms < x.ms ? y : x));
};
const rate = (r: Run): number => Math.round((r.entries / r.ms) * 1000);
// Entries per second of CPU: what the work costs, whatever else the machine is running.
const perCpu = (r: Run): number => Math.round((r.entries / r.cpuMs) * 1000);
const results: Record<string, Run> = {};
for (const t of ['ws', 'webrtc'] as const)
  for (const clear of [false, true]) results[`${t}${clear ? '-clear' : ''}`] = await best(t, clear);
setCleartextLinksForBench(false);
const n = (x: number): string => x.toLocaleString('en-US');
console.log(`initial replication of ${N + 1000} entries (best of 2, same FeedSession):`);
for (const [t, label, target] of [
  ['ws', 'WebSocket', 100_000],
  ['webrtc', 'WebRTC   ', 50_000],
] as const) {
  const enc = results[t]!;
  const clear = results[`${t}-clear`]!;
  const cost = (x: number, y: number): string => `${Math.max(0, 100 * (1 - x / y)).toFixed(0)}%`;
  console.log(
    `  ${label} encrypted ${n(rate(enc))} entries/s (target >= ${n(target)}), unencrypted ${n(rate(clear))} entries/s in the same run: ratio ${(rate(enc) / rate(clear)).toFixed(2)}, encryption costs ${cost(rate(enc), rate(clear))} (target <= 20%)`,
  );
  console.log(
    `            per CPU second: encrypted ${n(perCpu(enc))}, unencrypted ${n(perCpu(clear))} entries: ratio ${(perCpu(enc) / perCpu(clear)).toFixed(2)}, encryption costs ${cost(perCpu(enc), perCpu(clear))} of the CPU`,
  );
}
console.log(`  WebRTC/WebSocket, both encrypted: ${(rate(results.webrtc!) / rate(results.ws!)).toFixed(2)}`);
// node-datachannel's threads keep the process alive until cleanup() runs after the last close.
setTimeout(() => process.exit(0), 200).unref();
