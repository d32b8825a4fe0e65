// Watching a tree (issue 15, thirteenth session): from the call to every folder watched, ours
// (src/actors/jobs/watch-tree.ts) against inotifywait -r (inotify-tools, C, one thread), which
// prints "Watches established." once it has watched every folder. Both watch every folder (no
// rule skips one). Ours on one thread against it (the same thread count), and ours as the daemon
// runs it (two threads) reported on its own line; runs in turns, the best of RUNS each.
// Usage: node dist/bench/watch.js [TREE_DIR]   (default: the 1,000,000-file bench tree)
import { spawn } from 'node:child_process';
import { watchTree } from '../src/actors/jobs/watch-tree.js';
import { benchTree, hasCommand, loadAverage, printTable } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 3);
const root = benchTree(process.argv[2], 1_000_000);
const all = { skipNames: [], skipHidden: false, excluded: [] };

async function ours(threads: 1 | 2): Promise<{ ms: number; held: number; folders: number }> {
  const t0 = performance.now();
  const w = watchTree(
    root,
    all,
    () => undefined,
    (e) => console.error(e.message),
    { threads },
  );
  const held = performance.now() - t0;
  await w.ready();
  const ms = performance.now() - t0;
  const folders = w.size;
  w.close();
  return { ms, held, folders };
}

function inotifywait(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('inotifywait', ['-m', '-r', '-e', 'create', root], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let ms = 0;
    p.stderr.on('data', (d: Buffer) => {
      err += d;
      if (ms || !err.includes('Watches established.')) return;
      ms = performance.now() - t0;
      p.kill();
    });
    p.once('exit', (code) => (ms ? resolve(ms) : reject(new Error(`inotifywait ended (${code}): ${err}`))));
  });
}

if (!hasCommand('inotifywait')) {
  console.log('skipped: inotifywait is not installed (Debian: apt-get install inotify-tools)');
  process.exit(0);
}
const best = { one: Infinity, two: Infinity, peer: Infinity, held: Infinity };
let folders = 0;
await ours(1); // a warm-up of each: the folders' inodes in the cache, the code loaded
await inotifywait();
for (let i = 0; i < RUNS; i++) {
  const a = await ours(1);
  const b = await ours(2);
  const p = await inotifywait();
  console.log(
    `run ${i + 1}: ours x1 ${a.ms.toFixed(0)} ms, ours x2 ${b.ms.toFixed(0)} ms (main thread held ${b.held.toFixed(0)} ms), inotifywait ${p.toFixed(0)} ms`,
  );
  best.one = Math.min(best.one, a.ms);
  best.two = Math.min(best.two, b.ms);
  best.held = Math.min(best.held, b.held);
  best.peer = Math.min(best.peer, p);
  folders = a.folders;
}
console.log(`load average ${loadAverage()}; ${folders.toLocaleString('en-US')} folders watched`);
const rate = (ms: number): number => (folders / ms) * 1000;
printTable(`watching every folder of ${root} (best of ${RUNS})`, [
  { what: 'ours, one thread vs inotifywait -r', unit: 'folders/s', ours: rate(best.one), peer: rate(best.peer) },
  {
    what: 'ours, two threads (the daemon) vs inotifywait -r',
    unit: 'folders/s',
    ours: rate(best.two),
    peer: rate(best.peer),
  },
]);
console.log(`the main thread was held ${best.held.toFixed(0)} ms of it (the first folders, and starting the threads)`);
