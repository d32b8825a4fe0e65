// Metadata index of the shared 100,000-file tree by two builds in one process, runs interleaved
// (before, after, before, after...), so both meet the same machine: issue 11's "before and after
// in the same run". The walk ends with the job's last entries.upserted event, as in index.ts.
// Usage: node dist/bench/index-compare.js --before /path/to/old/checkout [TREE_DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Core } from '../src/core.js';
import { benchTree, timeShell } from './lib.js';

const argv = process.argv.slice(2);
const bi = argv.indexOf('--before');
const before = bi >= 0 ? argv[bi + 1] : undefined;
const rest = argv.filter((_, i) => i !== bi && i !== bi + 1);
const root = benchTree(rest[0]);
const RUNS = Number(process.env.RUNS ?? 3);

type AnyCore = Pick<Core, 'command' | 'query' | 'close' | 'bus'>;

async function walkMs(open: (dir: string) => Promise<AnyCore>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vdfs-bench-cmp-'));
  try {
    const core = await open(dir);
    try {
      let started = 0;
      let walkEnd = 0;
      let identifying = false;
      const stop = core.bus.subscribe((m) => {
        const now = performance.now();
        if (m.kind === 'job' && m.state === 'running' && started === 0) started = now;
        if (m.kind !== 'event') return;
        if (m.type === 'entries.identified') identifying = true;
        else if (!identifying && m.type === 'entries.upserted') walkEnd = now;
      });
      const out = await core.command<{ job: string }>('location.add', { path: root, watch: false });
      const deadline = Date.now() + 600_000;
      for (;;) {
        const j = await core.query<{ state: string }>('job.info', { ref: out.result!.job });
        if (j.state === 'completed') break;
        if (j.state === 'failed' || Date.now() > deadline) throw new Error(`index job ${j.state}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      stop();
      return walkEnd - started;
    } finally {
      await core.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const builds: [string, (dir: string) => Promise<AnyCore>][] = [['after (this build)', (d) => Core.open(d)]];
if (before) {
  const mod = (await import(pathToFileURL(join(resolve(before), 'dist/src/core.js')).href)) as { Core: typeof Core };
  builds.unshift([`before (${before})`, (d) => mod.Core.open(d)]);
}
const findMs = timeShell(`find '${root}' -printf '%i %s %T@ %p\\n' > /dev/null`);
const best = new Map<string, number>();
for (let i = 0; i < RUNS; i++)
  for (const [name, open] of builds) {
    const ms = await walkMs(open);
    console.log(`run ${i + 1} ${name}: ${ms.toFixed(0)} ms`);
    best.set(name, Math.min(best.get(name) ?? Infinity, ms));
  }
const entries = 105_000;
const rate = (ms: number): string => `${Math.round((entries / ms) * 1000).toLocaleString('en-US')} entries/s`;
console.log(`\nmetadata index of ${root} (105,000 entries), best of ${RUNS}; peer find -printf: ${rate(findMs)}`);
for (const [name, ms] of best)
  console.log(`${name.padEnd(40)} ${rate(ms).padStart(20)}  ours/peer ${(findMs / ms).toFixed(2)}`);
if (before) {
  const a = best.get('after (this build)')!;
  const b = best.get(`before (${before})`)!;
  console.log(`after / before (throughput ratio): ${(b / a).toFixed(2)}; target >= 50,000 entries/s`);
}
