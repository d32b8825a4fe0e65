// Load: a daemon indexing a 100,000-file tree while 50 concurrent clients issue 100 mixed
// queries each over the RPC socket: every request must be answered without error; prints
// p50/p99 latency. (No replicating peer in this version of the bench.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRpc } from '../src/rpc/client.js';
import { benchTree } from './lib.js';

const SD = fileURLToPath(new URL('../../bin/sd.js', import.meta.url));
const CLIENTS = 50;
const EACH = 100;

const root = benchTree();
const tree = { root, files: 100_000 };
const dir = mkdtempSync(join(tmpdir(), 'sd-load-'));
const sd = (...a: string[]) => spawnSync(process.execPath, [SD, '--data-dir', dir, ...a], { encoding: 'utf8', env: { ...process.env, SD_MDNS: 'off' } });
const started = sd('start');
if (started.status !== 0) throw new Error(started.stderr);
try {
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
  const lat: number[] = [];
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
        lat.push(performance.now() - s);
      }
      await rpc.close();
    }),
  );
  lat.sort((a, b) => a - b);
  const job = JSON.parse(sd('--json', 'job', 'list').stdout) as { state: string; done: number }[];
  console.log(`${CLIENTS} clients x ${EACH} mixed queries while indexing ${tree.files} files: ${lat.length} answered, ${errors} errors, p50 ${lat[Math.floor(lat.length / 2)]!.toFixed(1)} ms, p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(1)} ms, ${((performance.now() - t0) / 1000).toFixed(1)} s in all; index job ${job[0]?.state} at ${job[0]?.done}`);
} finally {
  sd('stop');
  rmSync(dir, { recursive: true, force: true });
}
