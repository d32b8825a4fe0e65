// Tiny bench helpers: best-of-N timing for our code and for a shell peer, and a ratio table.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTree } from '../fixtures/tree.js';
import { DAEMON_NODE_FLAGS, daemonEnv } from '../src/daemon/node-flags.js';

/**
 * A bench that runs the daemon's Core in its own process runs it as the daemon runs: with the
 * daemon's V8 flags and environment (src/daemon/node-flags.ts). Without them, this script runs
 * itself again once with them and exits with its status; it returns only in the process that has them.
 */
export function runAsDaemon(): void {
  if (DAEMON_NODE_FLAGS.every((f) => process.execArgv.includes(f))) return;
  const r = spawnSync(process.execPath, [...process.execArgv, ...DAEMON_NODE_FLAGS, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: daemonEnv(),
  });
  process.exit(r.status ?? 1);
}

/** Best wall time (ms) of `runs` calls after one warm-up; best-of filters out noise from neighbours. */
export async function timeIt<T>(fn: () => T | Promise<T>, runs = 3): Promise<{ ms: number; result: T }> {
  let result = await fn();
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, result };
}

/** Best wall time (ms) of a shell command, after one warm-up run; throws if it fails. */
export function timeShell(cmd: string, runs = 3): number {
  const run = (): number => {
    const t0 = performance.now();
    const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`peer command failed (${r.status}): ${cmd}\n${r.stderr}`);
    return performance.now() - t0;
  };
  run();
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, run());
  return best;
}

export function hasCommand(name: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export interface Row {
  what: string;
  unit: string;
  ours: number;
  peer: number;
  target?: string;
}

/** Prints ours, the peer's and ours/peer (a throughput ratio: above 1 means we are faster). */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  const head = ['what', 'ours', 'peer', 'ours/peer', 'target'];
  const body = rows.map((r) => [
    r.what,
    `${fmt(r.ours)} ${r.unit}`,
    `${fmt(r.peer)} ${r.unit}`,
    (r.ours / r.peer).toFixed(2),
    r.target ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  for (const line of [head, ...body]) console.log(line.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

export const BENCH_TREE = { files: 100_000, folders: 5_000, seed: 1 };

/**
 * The shared bench tree: generated once (no extras, no sparse files, so peers read the same
 * bytes) and reused while its sidecar manifest exists.
 */
export function benchTree(dirArg?: string, files = BENCH_TREE.files): string {
  const spec = { ...BENCH_TREE, files, folders: Math.max(10, Math.round(files / 20)) };
  const root = dirArg ?? join(tmpdir(), `vdfs-bench-tree-${spec.files}-s${spec.seed}`);
  const marker = `${root}.manifest.json`;
  if (existsSync(marker) && existsSync(root)) {
    const m = JSON.parse(readFileSync(marker, 'utf8')) as { files: number };
    console.log(`reusing tree ${root} (${m.files} files)`);
    return root;
  }
  const t0 = performance.now();
  const m = generateTree(root, { ...spec, extras: false, sparseFiles: 0 });
  writeFileSync(marker, JSON.stringify({ files: m.files, folders: m.folders, bytes: m.bytes }));
  console.log(
    `generated ${root}: ${m.files} files, ${m.folders} folders, ${(m.bytes / 2 ** 20).toFixed(0)} MiB in ${Math.round(performance.now() - t0)} ms`,
  );
  return root;
}

/** The load average now, for the bench's output (figures on a shared machine mean little without it). */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

/** CPU ms this process's main thread spent so far (/proc, 10 ms ticks): what bounds the wall time. */
export function mainThreadMs(): number {
  try {
    const st = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}
