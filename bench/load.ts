// Load (issue 6): a daemon indexing a 100,000-file tree while a paired second daemon replicates
// its feed live and 50 concurrent clients issue 100 mixed queries each over the RPC socket:
// every request must be answered without error; prints p50/p99 latency per query kind and how
// far the peer got.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRpc } from '../src/rpc/client.js';
import { benchTree } from './lib.js';
import { smapsLine } from './smaps.js';

const SD = fileURLToPath(new URL('../../bin/sd.js', import.meta.url));
const CLIENTS = 50;
const EACH = 100;

const root = benchTree();
const tree = { root, files: 100_000 };
const dir = mkdtempSync(join(tmpdir(), 'sd-load-'));
const peerDir = mkdtempSync(join(tmpdir(), 'sd-load-peer-'));
const env = { ...process.env, SD_MDNS: 'off', SD_P2P_HOST: '127.0.0.1' };
const sdIn = (d: string, ...a: string[]) =>
  spawnSync(process.execPath, [SD, '--data-dir', d, ...a], { encoding: 'utf8', env });
const sd = (...a: string[]) => sdIn(dir, ...a);
for (const d of [dir, peerDir]) {
  const started = sdIn(d, 'start', '--p2p-port', '0');
  if (started.status !== 0) throw new Error(started.stderr);
}
try {
  // The peer joins A's library first, so it replicates the index live as A makes it.
  const invite = JSON.parse(sd('--json', 'pair', 'invite', '--host', '127.0.0.1').stdout) as {
    result: { code: string };
  };
  const joined = sdIn(peerDir, 'pair', 'join', invite.result.code);
  if (joined.status !== 0) throw new Error(`pair join: ${joined.stderr}`);
  sd('location', 'add', tree.root, '--no-watch');
  const token = readFileSync(join(dir, 'rpc.token'), 'utf8').trim();
  const ops: [string, unknown][] = [
    ['status', {}],
    ['query', { name: 'library.list', input: {} }],
    ['query', { name: 'job.list', input: {} }],
    ['query', { name: 'search', input: { query: 'f10', limit: 10 } }],
    ['query', { name: 'entry.ls', input: { path: tree.root } }],
    ['query', { name: 'stats', input: {} }],
    ['query', { name: 'log.list', input: { limit: 20 } }],
  ];
  // The daemon's RSS while it works, every 100 ms (issue 15: at most 300 MB).
  const pid = Number(readFileSync(join(dir, 'sd.pid'), 'utf8'));
  const rssOf = (): number =>
    Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  let peakRss = rssOf();
  // Where that memory was at the peak (bench/smaps.ts), read again each time the peak rises.
  let peakParts = smapsLine(pid);
  const watcher = await connectRpc({ socketPath: join(dir, 'sd.sock'), token });
  const heapAt = async (): Promise<string> => {
    const m = ((await watcher.call('status', {})) as { memory?: { heapUsed: number; external: number } }).memory;
    return m
      ? `JS heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, buffers ${(m.external / 2 ** 20).toFixed(0)} MiB`
      : '';
  };
  let peakHeap = await heapAt();
  const sampler = setInterval(() => {
    const rss = rssOf();
    if (rss <= peakRss) return;
    peakRss = rss;
    peakParts = smapsLine(pid);
    void heapAt().then((h) => (peakHeap = h));
  }, 100);
  const lat: number[] = [];
  const byOp = new Map<string, number[]>();
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const rpc = await connectRpc({ socketPath: join(dir, 'sd.sock'), token });
      for (let i = 0; i < EACH; i++) {
        const [op, args] = ops[(c + i) % ops.length]!;
        const s = performance.now();
        try {
          await rpc.call(op, args);
        } catch {
          errors++;
        }
        const ms = performance.now() - s;
        lat.push(ms);
        const kind = op === 'query' ? (args as { name: string }).name : op;
        (byOp.get(kind) ?? byOp.set(kind, []).get(kind)!).push(ms);
      }
      await rpc.close();
    }),
  );
  clearInterval(sampler);
  await watcher.close();
  lat.sort((a, b) => a - b);
  const job = JSON.parse(sd('--json', 'job', 'list').stdout) as { state: string; done: number }[];
  const pct = (xs: number[], p: number): string => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)]!.toFixed(1);
  const synced = JSON.parse(sdIn(peerDir, '--json', 'sync', 'status').stdout) as {
    peers?: { libraries: { received: number }[] }[];
  };
  const received = synced.peers?.[0]?.libraries[0]?.received ?? 0;
  console.log(
    `${CLIENTS} clients x ${EACH} mixed queries while indexing ${tree.files} files and a peer replicates: ${lat.length} answered, ${errors} errors, p50 ${pct(lat, 0.5)} ms, p99 ${pct(lat, 0.99)} ms, ${((performance.now() - t0) / 1000).toFixed(1)} s in all; index job ${job[0]?.state} at ${job[0]?.done}; the peer had received ${received} events`,
  );
  for (const [kind, xs] of byOp)
    console.log(`  ${kind.padEnd(14)} p50 ${pct(xs, 0.5).padStart(8)} ms  p99 ${pct(xs, 0.99).padStart(8)} ms`);
  console.log(
    `the indexing daemon's peak RSS during the queries: ${(peakRss / 2 ** 20).toFixed(0)} MiB = ${(peakRss / 1e6).toFixed(0)} MB (target <= 300 MB); at the peak: ${peakParts}; ${peakHeap}`,
  );
} finally {
  sd('stop');
  sdIn(peerDir, 'stop');
  rmSync(dir, { recursive: true, force: true });
  rmSync(peerDir, { recursive: true, force: true });
}
