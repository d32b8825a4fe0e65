// The CLI's own cost, each next to a peer measured in the same run: `sd status` round trip
// against `node -e 0` (process start to exit), and `sd ls` of a 10,000-entry folder as a table
// (every name escaped for the terminal, columns measured by display width) against `ls -l` of
// the same folder and against the same answer under `--json`. Medians of 9 runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from './lib.js';

const SD = fileURLToPath(new URL('../../bin/sd.js', import.meta.url));
const env = { ...process.env, SD_MDNS: 'off', NO_COLOR: '1' };

function median(cmd: string, args: string[], runs = 9): number {
  const xs: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    if (i > 0) xs.push(performance.now() - t0); // the first run warms the caches
  }
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), 'vdfs-bench-cli-'));
const folder = join(dir, 'files', 'big');
mkdirSync(folder, { recursive: true });
// Names of every kind a table meets: plain, wide (CJK), combining marks, and a control character.
const names = ['photo', '写真', 'cafe\u0301', 'tab\there'];
for (let i = 0; i < 10_000; i++) writeFileSync(join(folder, `${names[i % names.length]}-${i}.txt`), String(i));
try {
  const data = join(dir, 'data');
  const sd = (...args: string[]): string[] => [SD, '--data-dir', data, ...args];
  const start = spawnSync(process.execPath, sd('start'), { encoding: 'utf8', env });
  if (start.status !== 0) throw new Error(`sd start failed: ${start.stderr}`);
  try {
    const add = spawnSync(process.execPath, sd('location', 'add', join(dir, 'files'), '--wait'), { env });
    if (add.status !== 0) throw new Error('indexing failed');
    const status = median(process.execPath, sd('status'));
    const nodeE = median(process.execPath, ['-e', '0']);
    const table = median(process.execPath, sd('ls', folder));
    const json = median(process.execPath, sd('--json', 'ls', folder));
    const lsl = median('ls', ['-l', folder]);
    // These are times: ours/peer above 1 means we take longer.
    printTable('CLI (ms, median of 9; ours/peer is a time ratio: above 1 = slower)', [
      { what: 'sd status round trip vs node -e 0', unit: 'ms', ours: status, peer: nodeE, target: 'within 2x' },
      { what: 'sd ls 10,000 entries (table) vs ls -l', unit: 'ms', ours: table, peer: lsl },
      { what: 'sd ls 10,000 entries (table) vs --json', unit: 'ms', ours: table, peer: json },
    ]);
    console.log(
      `\ntime ratios: status ${(status / nodeE).toFixed(2)}x node -e 0; table ${(table / lsl).toFixed(1)}x ls -l, ${(table / json).toFixed(2)}x --json`,
    );
  } finally {
    spawnSync(process.execPath, sd('stop'), { stdio: 'ignore', env });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
