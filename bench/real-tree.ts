// Issue-15 bench: the first index of a real tree nobody here generated (default /usr/lib), through
// the real Core (what `sd location add --wait` runs), against the peers on the same tree in the
// same run, warm cache for both (each peer runs once untimed first, then best of RUNS):
//   first index (metadata and content ids)  vs  find | xargs b3sum --num-threads 1 (every byte)
//   rescan of the unchanged tree            vs  2x find -printf (the target: at most that)
//   full re-identify (rescan --full)        vs  the same b3sum pass
// and where our time went, per phase, from `job.info`.
// Usage: node dist/bench/real-tree.js [TREE_DIR]   (RUNS=2, RESCANS=4)
// The Core runs with the daemon's V8 flags and environment, as `sd start` runs it (runAsDaemon).
// The rescan figure is the best of RESCANS rescans per run, in the process that indexed the tree:
// a daemon rescans again and again, and the first rescans after a first index run beside the name
// index's catch-up and with code V8 has not compiled yet (each one is printed).
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core.js';
import type { PhaseRow } from '../src/jobs/phase-times.js';
import { hasCommand, loadAverage, printTable, runAsDaemon, timeShell, type Row } from './lib.js';

runAsDaemon();

const root = process.argv[2] ?? '/usr/lib';
const RUNS = Number(process.env.RUNS ?? 2);
const RESCANS = Number(process.env.RESCANS ?? 4);

interface Info {
  state: string;
  runMs: number;
  phases: PhaseRow[];
}

// The job's end is heard on the bus, as `--wait` hears it: polling `job.info` every 10 ms cost the
// job a tenth of its main thread in a rescan.
async function runJob(core: Core, start: () => Promise<string>): Promise<{ ms: number; info: Info }> {
  const t0 = performance.now();
  let job: string | undefined;
  const ended = new Set<string>();
  let wake: () => void = () => undefined;
  const stop = core.bus.subscribe((m) => {
    if (m.kind !== 'job' || !['completed', 'failed', 'cancelled'].includes(m.state)) return;
    ended.add(m.job);
    if (m.job === job) wake();
  });
  try {
    job = await start();
    if (!ended.has(job))
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        setTimeout(() => reject(new Error('the index job did not finish in 15 minutes')), 900_000).unref();
      });
    const ms = performance.now() - t0;
    const j = await core.query<Info>('job.info', { ref: job });
    if (j.state !== 'completed') throw new Error(`index job ended ${j.state}`);
    return { ms, info: j };
  } finally {
    stop();
  }
}

const phases = (i: Info): string =>
  i.phases
    .map((p) => `${p.phase} ${p.ms} ms${p.n ? ` (${(p.perSec ?? 0).toLocaleString('en-US')}/s)` : ''}`)
    .join(', ');

const q = `'${root.replace(/'/g, "'\\''")}'`;
const count = (type: string): number =>
  Number(execSync(`find ${q} -type ${type} 2>/dev/null | wc -l`, { encoding: 'utf8', shell: '/bin/bash' }).trim());
console.log(
  `tree ${root}: ${count('f')} files, ${count('d')} folders, ${count('l')} symlinks, ${execSync(`du -sh ${q} 2>/dev/null | cut -f1`, { encoding: 'utf8', shell: '/bin/bash' }).trim()}`,
);

// Peers first (their warm-up run also warms the cache for us); errors on unreadable files are ignored.
const findMs = timeShell(`find ${q} -printf '%i %s %T@ %p\\n' > /dev/null 2>&1; true`, RUNS);
const haveB3 = hasCommand('b3sum');
if (!haveB3) console.log('b3sum not found: its figures are missing (apt-get install -y b3sum)');
const b3Ms = haveB3
  ? timeShell(`find ${q} -type f -print0 2>/dev/null | xargs -0 b3sum --num-threads 1 > /dev/null 2>&1; true`, RUNS)
  : NaN;

let first = { ms: Infinity, info: undefined as Info | undefined, entries: 0, files: 0 };
let rescan = { ms: Infinity, info: undefined as Info | undefined };
let full = { ms: Infinity, info: undefined as Info | undefined };
for (let run = 0; run < RUNS; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'vdfs-bench-real-'));
  try {
    const core = await Core.open(dir);
    try {
      let loc = '';
      const f = await runJob(core, async () => {
        const out = await core.command<{ id: string; job: string }>('location.add', { path: root, watch: false });
        loc = out.result!.id;
        return out.result!.job;
      });
      const c = core.libraries
        .resolve()
        .ro.prepare('SELECT COUNT(*) AS entries, SUM(t = 0) AS files FROM entries')
        .get() as { entries: number; files: number };
      console.log(
        `run ${run + 1}: first index ${f.ms.toFixed(0)} ms, ${c.entries} entries (${c.files} files): ${phases(f.info)}`,
      );
      if (f.ms < first.ms) first = { ...f, ...c };
      for (let i = 0; i < RESCANS; i++) {
        const r = await runJob(
          core,
          async () => (await core.command<{ job: string }>('location.rescan', { ref: loc })).result!.job,
        );
        console.log(`  rescan ${r.ms.toFixed(0)} ms: ${phases(r.info)}`);
        if (r.ms < rescan.ms) rescan = r;
      }
      const fu = await runJob(
        core,
        async () => (await core.command<{ job: string }>('location.rescan', { ref: loc, full: true })).result!.job,
      );
      console.log(`  full re-identify ${fu.ms.toFixed(0)} ms: ${phases(fu.info)}`);
      if (fu.ms < full.ms) full = fu;
    } finally {
      await core.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const perSec = (n: number, ms: number): number => (n / ms) * 1000;
const rows: Row[] = [
  {
    what: 'first index (metadata + content ids) vs find | xargs b3sum --num-threads 1',
    unit: 'files/s',
    ours: perSec(first.files, first.ms),
    peer: perSec(first.files, b3Ms),
    target: 'ratio >= 1 (no longer than one b3sum pass)',
  },
  {
    what: 'rescan of the unchanged tree vs 2x find -printf',
    unit: 'entries/s',
    ours: perSec(first.entries, rescan.ms),
    peer: perSec(first.entries, 2 * findMs),
    target: 'ratio >= 1 (at most 2x find)',
  },
  {
    what: 'full re-identify (rescan --full) vs find | xargs b3sum --num-threads 1',
    unit: 'files/s',
    ours: perSec(first.files, full.ms),
    peer: perSec(first.files, b3Ms),
    target: '',
  },
];
console.log(
  `\nload average ${loadAverage()}; find -printf ${findMs.toFixed(0)} ms, find | xargs b3sum ${b3Ms.toFixed(0)} ms; ours: first index ${first.ms.toFixed(0)} ms, rescan ${rescan.ms.toFixed(0)} ms, full re-identify ${full.ms.toFixed(0)} ms`,
);
printTable(`real tree ${root}, warm cache, best of ${RUNS}`, rows);
