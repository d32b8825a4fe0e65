// File operations bench (issue 11): `mv`, `rm` (to the trash) and `rm --permanent` of a
// 10,000-file folder through a Core (preview + commit + verify + index events), against coreutils
// `mv` / `rm -rf` on the same tree. With `--before DIR` (the root of another build, e.g. the
// previous commit built in /tmp), the same runs are made with that build's Core in the same
// process, interleaved with ours, so "before" and "after" share the machine's state.
// Usage: node dist/bench/fileops.js [--before /path/to/old/checkout] [--files 10000]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Core } from '../src/core.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const FILES = Number(opt('--files') ?? 10_000);
const RUNS = Number(process.env.RUNS ?? 3);
const before = opt('--before');

type CoreLike = Pick<Core, 'command' | 'query' | 'close'>;
type Open = (dir: string) => Promise<CoreLike>;

function makeFolder(dir: string): void {
  const per = 100;
  for (let d = 0; d < Math.ceil(FILES / per); d++) {
    const sub = join(dir, `d${String(d).padStart(3, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < per && d * per + f < FILES; f++)
      writeFileSync(join(sub, `f${f}.txt`), `file ${d}/${f} `.repeat(20));
  }
}

async function idle(core: CoreLike): Promise<void> {
  const until = Date.now() + 300_000;
  for (;;) {
    const jobs = await core.query<{ state: string }[]>('job.list', {});
    if (jobs.length && jobs.every((j) => ['completed', 'failed', 'cancelled'].includes(j.state))) return;
    if (Date.now() > until) throw new Error('index job did not finish');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One timed run of each operation with a fresh data dir and tree; ms per operation. */
async function runOnce(open: Open): Promise<{ mv: number; rm: number; rmPermanent: number }> {
  const base = mkdtempSync(join(tmpdir(), 'vdfs-fileops-'));
  try {
    const root = join(base, 'loc');
    makeFolder(join(root, 'big'));
    mkdirSync(join(root, 'dest'));
    const core = await open(join(base, 'data'));
    try {
      await core.command('location.add', { path: root, watch: false });
      await idle(core);
      const time = async (name: string, input: unknown): Promise<number> => {
        const t0 = performance.now();
        const out = await core.command<unknown>(name, input, { yes: true });
        const ms = performance.now() - t0;
        if (!out.verify?.ok) throw new Error(`${name} did not verify: ${JSON.stringify(out.verify).slice(0, 300)}`);
        return ms;
      };
      const mv = await time('entry.mv', { sources: [join(root, 'big')], dest: join(root, 'dest') });
      const rm = await time('entry.rm', { paths: [join(root, 'dest', 'big')] });
      makeFolder(join(root, 'big2'));
      await core.command('location.rescan', { ref: root });
      await idle(core);
      const rmPermanent = await time('entry.rm', { paths: [join(root, 'big2')], permanent: true });
      return { mv, rm, rmPermanent };
    } finally {
      await core.close();
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.env.SD_MDNS = 'off';
  const builds: [string, Open][] = [['after (this build)', (d) => Core.open(d)]];
  if (before) {
    const mod = (await import(pathToFileURL(join(resolve(before), 'dist/src/core.js')).href)) as { Core: typeof Core };
    builds.unshift([`before (${before})`, (d) => mod.Core.open(d)]);
  }
  const best = new Map<string, { mv: number; rm: number; rmPermanent: number }>();
  for (let i = 0; i < RUNS; i++) {
    for (const [name, open] of builds) {
      const r = await runOnce(open);
      const b = best.get(name);
      best.set(
        name,
        b
          ? { mv: Math.min(b.mv, r.mv), rm: Math.min(b.rm, r.rm), rmPermanent: Math.min(b.rmPermanent, r.rmPermanent) }
          : r,
      );
    }
  }
  // Peers: coreutils `mv` and `rm -rf` on the same tree, timed inside bash around the one command.
  const peerDir = mkdtempSync(join(tmpdir(), 'vdfs-fileops-peer-'));
  const src = join(peerDir, 'big');
  makeFolder(src);
  const peer = (op: string): number => {
    let best = Infinity;
    for (let i = 0; i < RUNS; i++) {
      const script = `rm -rf ${peerDir}/w ${peerDir}/m && cp -r ${src} ${peerDir}/w && mkdir ${peerDir}/m && s=$(date +%s%N) && ${op} && e=$(date +%s%N) && echo $((e - s))`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`peer failed: ${r.stderr}`);
      best = Math.min(best, Number(r.stdout.trim()) / 1e6);
    }
    return best;
  };
  const mvPeer = peer(`mv ${peerDir}/w ${peerDir}/m/`);
  const rmPeer = peer(`rm -rf ${peerDir}/w`);
  rmSync(peerDir, { recursive: true, force: true });
  console.log(
    `\nfile operations on a ${FILES.toLocaleString('en-US')}-file folder (best of ${RUNS}; ms, lower is better)`,
  );
  const rows: [string, string, string, string, string][] = [['build', 'mv', 'rm (trash)', 'rm --permanent', '']];
  for (const [name, r] of best) rows.push([name, r.mv.toFixed(0), r.rm.toFixed(0), r.rmPermanent.toFixed(0), '']);
  rows.push(['peer: coreutils mv / mv / rm -rf', mvPeer.toFixed(1), mvPeer.toFixed(1), rmPeer.toFixed(1), '']);
  const after = best.get('after (this build)')!;
  const old = before ? best.get(`before (${before})`) : undefined;
  if (old)
    rows.push([
      'after / before (time ratio)',
      (after.mv / old.mv).toFixed(2),
      (after.rm / old.rm).toFixed(2),
      (after.rmPermanent / old.rmPermanent).toFixed(2),
      '',
    ]);
  rows.push([
    'after / peer (time ratio)',
    (after.mv / mvPeer).toFixed(0),
    (after.rm / mvPeer).toFixed(0),
    (after.rmPermanent / rmPeer).toFixed(1),
    '',
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

await main();
