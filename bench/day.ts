// Issue-15 bench: a daemon after a day's work. Three real daemons (`sd start`) on loopback:
//   A indexes a generated tree (DAY_FILES, default 1,000,000 files; metadata and content ids),
//   tags 10,000 of its files in one command, is joined by B and C, and syncs with both until each
//   holds A's whole feed. A's RSS is sampled every 100 ms during the work (peak) and read once more
//   30 s after the work ended, idle (the target: at most 150 MB), next to the memory `sd status`
//   reports.
// The same run also gives the index rate at this size (target >= 30,000 files/s), with
// `find -printf` and `find | xargs b3sum --num-threads 1` over the same tree as the peers.
// Usage: node dist/bench/day.js [TREE_DIR]   (DAY_FILES=1000000, IDLE_MS=30000, DAY_HOLD_MS=0)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimePaths } from '../src/daemon/paths.js';
import { connectRpc, type RpcClient } from '../src/rpc/client.js';
import { until } from '../test/support/until.js';
import { benchTree, loadAverage, printTable, timeShell } from './lib.js';
import { smapsLine } from './smaps.js';

const SD = fileURLToPath(new URL('../../bin/sd.js', import.meta.url));
const FILES = Number(process.env.DAY_FILES ?? 1_000_000);
const IDLE_MS = Number(process.env.IDLE_MS ?? 30_000);
const env = { ...process.env, SD_MDNS: 'off', SD_P2P_HOST: '127.0.0.1', NO_COLOR: '1' };
const MB = 1024 * 1024;

function sd(dir: string, args: string[]): string {
  const r = spawnSync(process.execPath, [SD, '--data-dir', dir, ...args], {
    encoding: 'utf8',
    env,
    timeout: 1_800_000,
  });
  if (r.status !== 0) throw new Error(`sd ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const rssOf = (pid: number): number => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};

async function rpcOf(dir: string): Promise<RpcClient> {
  const p = runtimePaths(dir);
  return connectRpc({ socketPath: p.socket, token: readFileSync(p.token, 'utf8').trim() });
}

interface Feeds {
  peers: { device: string; libraries: { ahead: number; feeds: { dev: string; ours: number; theirs: number }[] }[] }[];
}

const root = benchTree(process.argv[2], FILES);
const q = `'${root.replace(/'/g, "'\\''")}'`;
const findMs = timeShell(`find ${q} -printf '%i %s %T@ %p\\n' > /dev/null`, 1);
const b3Ms = timeShell(`find ${q} -type f -print0 | xargs -0 b3sum --num-threads 1 > /dev/null`, 1);

const work = mkdtempSync(join(tmpdir(), 'vdfs-bench-day-'));
const dirs = ['a', 'b', 'c'].map((n) => join(work, n));
const clients: RpcClient[] = [];
try {
  for (const d of dirs) sd(d, ['start', '--p2p-port', '0']);
  const [pa] = dirs.map((d) => Number(readFileSync(join(d, 'sd.pid'), 'utf8')));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pa!))), 100);
  const ra = await rpcOf(dirs[0]!);
  clients.push(ra);

  // 1. the first index, timed from the command to the job's end (what `--wait` waits for)
  let t0 = performance.now();
  sd(dirs[0]!, ['location', 'add', root, '--wait']);
  const indexMs = performance.now() - t0;
  console.log(`A indexed ${FILES.toLocaleString('en-US')} files in ${(indexMs / 1000).toFixed(1)} s`);
  const jobs = (await ra.call('query', { name: 'job.list', input: {} })) as { id: string; kind?: string }[];
  const job = jobs.find((j) => j.kind === undefined || j.kind === 'index');
  if (job) console.log(sd(dirs[0]!, ['job', 'info', job.id]).trim());

  // 2. 10,000 files tagged in one command: the files of the first folders, in walk order
  const files: string[] = [];
  const walkDir = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      if (files.length >= 10_000) return;
      if (e.isDirectory()) walkDir(join(d, e.name));
      else if (e.isFile()) files.push(join(d, e.name));
    }
  };
  walkDir(root);
  sd(dirs[0]!, ['tag', 'create', 'day']);
  t0 = performance.now();
  await ra.call('command', { name: 'tag.apply', input: { tag: 'day', paths: files }, yes: true });
  console.log(`tagged ${files.length} files in ${(performance.now() - t0).toFixed(0)} ms`);

  // 3. B and C join and sync A's whole feed
  t0 = performance.now();
  for (const d of dirs.slice(1)) {
    const code = (JSON.parse(sd(dirs[0]!, ['--json', 'pair', 'invite'])) as { result: { code: string } }).result.code;
    sd(d, ['pair', 'join', code]);
  }
  await until(
    'B and C hold all of A',
    async () => {
      const st = (await ra.call('query', { name: 'sync.status', input: {} })) as Feeds;
      const done =
        st.peers.length === 2 &&
        st.peers.every(
          (p) =>
            p.libraries.length > 0 &&
            p.libraries.every((l) => l.ahead === 0 && l.feeds.every((f) => f.ours === f.theirs)),
        );
      return done;
    },
    1_800_000,
    250,
  );
  const syncMs = performance.now() - t0;
  console.log(`B and C held A's feed ${(syncMs / 1000).toFixed(1)} s after the first invite`);
  const workPeak = peak;

  // 4. idle
  await new Promise((r) => setTimeout(r, IDLE_MS));
  clearInterval(sampler);
  const idle = rssOf(pa!);
  const status = (await ra.call('status', {})) as { memory?: { rss: number; heapUsed: number; external: number } };
  const m = status.memory;
  console.log(
    `A idle ${IDLE_MS / 1000} s after the work: RSS ${(idle / MB).toFixed(0)} MiB` +
      (m
        ? ` (sd status: rss ${(m.rss / MB).toFixed(0)} MiB, JS heap ${(m.heapUsed / MB).toFixed(0)} MiB, buffers ${(m.external / MB).toFixed(0)} MiB)`
        : ''),
  );
  console.log(`A's resident memory by mapping: ${smapsLine(pa!)}`);
  console.log(`\nload average ${loadAverage()}; find -printf ${findMs.toFixed(0)} ms, b3sum ${b3Ms.toFixed(0)} ms`);
  printTable(`a day's work on ${FILES.toLocaleString('en-US')} files, three daemons on loopback`, [
    {
      what: 'first index (metadata + content ids) vs find | xargs b3sum --num-threads 1',
      unit: 'files/s',
      ours: (FILES / indexMs) * 1000,
      peer: (FILES / b3Ms) * 1000,
      target: '>= 30,000 files/s',
    },
    {
      what: 'first index vs find -printf',
      unit: 'files/s',
      ours: (FILES / indexMs) * 1000,
      peer: (FILES / findMs) * 1000,
      target: '',
    },
  ]);
  console.log(
    `A's RSS: peak during the work ${(workPeak / MB).toFixed(0)} MiB; idle ${(idle / MB).toFixed(0)} MiB = ${(idle / 1e6).toFixed(0)} MB (target <= 150 MB)`,
  );
  // DAY_HOLD_MS: keep the daemons up a while longer, to look at A from outside (smaps, a heap snapshot)
  const hold = Number(process.env.DAY_HOLD_MS ?? 0);
  if (hold > 0) {
    console.log(`holding A (pid ${pa}) for ${hold / 1000} s`);
    await new Promise((r) => setTimeout(r, hold));
  }
} finally {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const d of dirs) spawnSync(process.execPath, [SD, '--data-dir', d, 'stop'], { env });
  rmSync(work, { recursive: true, force: true });
}
