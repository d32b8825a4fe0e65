// Issue-17 bench: file content between two devices on loopback, in one run, against two peers.
//   data: one 1 GiB file of random bytes; 10,000 files of 10,000 bytes (100 MB) in 100 folders.
//   vdfs: two daemons (`sd start`), paired, a location on each; timed from `sd cp --device` until
//         its job completed (fetched, every chunk and file BLAKE3-verified, placed, recorded).
//         Meanwhile: the RSS of both daemons (sampled every 50 ms), and during the 1 GiB copy, tags
//         created on A every 250 ms and the time until B lists them (p50), against the same
//         measure with no transfer running.
//   rsync: `rsync -a SRC/ DST/` between two local folders (no network, no verification).
//   (both are polled every 100 ms: at 20 ms the polls alone took a tenth of a core on the receiver)
//   Syncthing: A shares the data send-only, B receive-only; A's scan is not timed; timed from B's
//         API answering until B holds every file (needFiles 0, inSyncBytes = globalBytes).
// Every address is 127.0.0.1. A peer whose binary is missing is skipped, with the reason.
// Usage: node dist/bench/transfer.js [WORK_DIR]   (needs ~2.5 GB free there)
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimePaths } from '../src/daemon/paths.js';
import { connectRpc, type RpcClient } from '../src/rpc/client.js';
import { hasCommand } from './lib.js';
import { smapsLine } from './smaps.js';
import { api, configure, freePorts, generate, serve, until, type St } from './syncthing.js';

const SD = fileURLToPath(new URL('../../bin/sd.js', import.meta.url));
const MB = 1024 * 1024;
/** Knobs for a quick look (the figures quoted are from a run without them): the big file's size, vdfs only. */
const BIG_MB = Number(process.env.XFER_BENCH_MB ?? 1024);
const ONLY_VDFS = process.env.XFER_BENCH_ONLY === 'vdfs' || process.env.XFER_BENCH_ONLY === 'vdfs-small';
const SMALL_ONLY = process.env.XFER_BENCH_ONLY === 'vdfs-small';
/** XFER_BENCH_TAGS=1: the tag propagation measure with XFER_BENCH_ONLY too. */
const TAGS = process.env.XFER_BENCH_TAGS === '1';
const env = { ...process.env, SD_MDNS: 'off', SD_P2P_HOST: '127.0.0.1', NO_COLOR: '1' };

function sd(dir: string, args: string[]): string {
  const r = spawnSync(process.execPath, [SD, '--data-dir', dir, ...args], { encoding: 'utf8', env, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`sd ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function rpcOf(dir: string): Promise<RpcClient> {
  const p = runtimePaths(dir);
  return connectRpc({ socketPath: p.socket, token: readFileSync(p.token, 'utf8').trim() });
}

const rssOf = (pid: number): number => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};
/** CPU seconds (user + system) a process used so far; `system` only: the kernel's part. */
const cpuOf = (pid: number, system = false): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((system ? 0 : Number(f[11])) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
};
/** CPU seconds of a process and its children (Syncthing's monitor process runs the real one as its child). */
const cpuTree = (pid: number): number => {
  const kids: number[] = [];
  try {
    // Each thread lists the children it spawned (Go spawns from any of its threads).
    for (const task of readdirSync(`/proc/${pid}/task`))
      for (const k of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/))
        if (k) kids.push(Number(k));
  } catch {
    // gone
  }
  return cpuOf(pid) + kids.reduce((n, k) => n + cpuTree(k), 0);
};
const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function makeData(root: string): { big: string; small: string } {
  const big = join(root, 'big');
  const small = join(root, 'small');
  mkdirSync(big, { recursive: true });
  const fd = openSync(join(big, 'one.bin'), 'w');
  for (let i = 0; i < BIG_MB / 8; i++) writeSync(fd, randomBytes(8 * MB));
  closeSync(fd);
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(small, `d${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) {
      const f = openSync(join(small, `d${d}`, `f${i}.bin`), 'w');
      writeSync(f, randomBytes(10_000));
      closeSync(f);
    }
  }
  return { big, small };
}

interface VdfsRun {
  ms: number;
  bytes: number;
  rssA: number;
  rssB: number;
  byPhase: Record<string, number>;
  /** CPU seconds of the source's and the receiver's daemon during the transfer. */
  cpuA: number;
  cpuB: number;
  /** The kernel's part of cpuA and cpuB (socket copies, page faults, writes into the page cache). */
  sysA: number;
  sysB: number;
  where: { before: string; peak: string };
  tagIdle?: number;
  tagBusy?: number;
  tagSamples?: number;
}

/** Ms until a tag created on A is listed on B. */
async function tagLatency(ra: RpcClient, rb: RpcClient, lib: string | undefined, name: string): Promise<number> {
  await ra.call('command', { name: 'tag.create', input: { name }, library: lib, yes: true });
  const t0 = performance.now();
  await until(
    `tag ${name} on B`,
    async () => {
      const tags = (await rb.call('query', { name: 'tag.list', input: {}, library: lib })) as { name: string }[];
      return tags.some((x) => x.name === name) ? true : undefined;
    },
    30_000,
    2,
  );
  return performance.now() - t0;
}

async function vdfs(work: string, src: string, tags: boolean): Promise<VdfsRun> {
  const da = join(work, 'sd-a');
  const db = join(work, 'sd-b');
  const dest = join(work, 'vdfs-dest');
  mkdirSync(dest);
  sd(da, ['start', '--p2p-port', '0']);
  sd(db, ['start', '--p2p-port', '0']);
  const [ra, rb] = [await rpcOf(da), await rpcOf(db)];
  try {
    const pa = JSON.parse(sd(da, ['--json', 'status'])) as { device: { id: string }; daemon?: { pid: number } };
    const a = pa.device.id;
    sd(da, ['location', 'add', src, '--wait']);
    const code = (JSON.parse(sd(da, ['--json', 'pair', 'invite'])) as { result: { code: string } }).result.code;
    sd(db, ['pair', 'join', code]);
    sd(db, ['location', 'add', dest, '--wait']);
    const lib = undefined; // the current library of each: A's, which B joined
    await until(
      "B holds A's index",
      () => {
        const r = spawnSync(process.execPath, [SD, '--data-dir', db, '--dry-run', 'cp', '--device', a, src, dest], {
          env,
        });
        return r.status === 0 ? true : undefined;
      },
      120_000,
      200,
    );
    const pids = [da, db].map((d) => Number(readFileSync(join(d, 'sd.pid'), 'utf8')));
    const idle: number[] = [];
    if (tags) for (let i = 0; i < 10; i++) idle.push(await tagLatency(ra, rb, lib, `idle-${i}`));
    const cpu0 = pids.map((p) => cpuOf(p));
    const sys0 = pids.map((p) => cpuOf(p, true));
    const t0 = performance.now();
    const out = JSON.parse(sd(db, ['--json', 'cp', '--device', a, '--no-wait', src, dest])) as {
      result: { job: string };
    };
    const job = out.result.job;
    let rssA = 0;
    let rssB = 0;
    let ended = false;
    /** The receiver's peak by the job's phase (list, fetch, place), and before the transfer. */
    const byPhase: Record<string, number> = { before: rssOf(pids[1]!) };
    /** Where the receiver's memory lives before the transfer and at its peak (smaps). */
    const where = { before: smapsLine(pids[1]!), peak: '' };
    let phase = 'list';
    const sampler = setInterval(() => {
      rssA = Math.max(rssA, rssOf(pids[0]!));
      const b = rssOf(pids[1]!);
      if (b > rssB + 2 * MB) where.peak = `${phase}: ${smapsLine(pids[1]!)}`;
      rssB = Math.max(rssB, b);
      byPhase[phase] = Math.max(byPhase[phase] ?? 0, b);
    }, 50);
    const busy: number[] = [];
    const tagLoop = (async () => {
      for (let i = 0; tags && !ended && i < 200; i++) {
        busy.push(await tagLatency(ra, rb, lib, `busy-${i}`));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const info = await until(
      'the transfer job',
      async () => {
        const j = (await rb.call('query', { name: 'job.info', input: { ref: job }, library: lib })) as {
          state: string;
          message: string | null;
          done: number;
          phase: string | null;
        };
        phase = j.phase ?? phase;
        return ['completed', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
      },
      1_800_000,
      100,
    );
    const ms = performance.now() - t0;
    const [cpuA, cpuB] = pids.map((p, i) => cpuOf(p) - cpu0[i]!);
    const [sysA, sysB] = pids.map((p, i) => cpuOf(p, true) - sys0[i]!);
    ended = true;
    clearInterval(sampler);
    await tagLoop;
    if (info.state !== 'completed') throw new Error(`the transfer ${info.state}: ${info.message}`);
    return {
      ms,
      bytes: info.done,
      rssA,
      rssB,
      byPhase,
      cpuA: cpuA!,
      cpuB: cpuB!,
      sysA: sysA!,
      sysB: sysB!,
      where,
      ...(tags ? { tagIdle: p50(idle), tagBusy: p50(busy), tagSamples: busy.length } : {}),
    };
  } finally {
    await ra.close();
    await rb.close();
    for (const d of [da, db]) spawnSync(process.execPath, [SD, '--data-dir', d, 'stop'], { env });
  }
}

function rsync(work: string, src: string): number {
  const dst = join(work, 'rsync-dest');
  mkdirSync(dst);
  const t0 = performance.now();
  const r = spawnSync('rsync', ['-a', `${src}/`, `${dst}/`]);
  if (r.status !== 0) throw new Error(`rsync: ${String(r.stderr)}`);
  return performance.now() - t0;
}

interface FolderStatus {
  state: string;
  needFiles: number;
  globalFiles: number;
  globalBytes: number;
  inSyncBytes: number;
  localFiles: number;
}

async function syncthing(work: string, src: string): Promise<{ ms: number; cpuA: number; cpuB: number }> {
  const dir = mkdtempSync(join(work, 'st-'));
  const a = generate(join(dir, 'a'));
  const b = generate(join(dir, 'b'));
  const all: St[] = [a, b];
  try {
    // Four distinct ports: two freePort() calls in a row may give the same one.
    [a.gui, a.listen, b.gui, b.listen] = (await freePorts(4)) as [number, number, number, number];
    mkdirSync(join(dir, 'b-folder'));
    configure(a, b, { path: src, type: 'sendonly' });
    configure(b, a, { path: join(dir, 'b-folder'), type: 'receiveonly' });
    serve(a);
    const scanned = await until(
      'Syncthing A scanned',
      async () => {
        const s = await api<FolderStatus>(a, '/rest/db/status?folder=bench');
        return s && s.state === 'idle' && s.localFiles > 0 ? s : undefined;
      },
      900_000,
      100,
    );
    serve(b);
    await until('Syncthing B API', () => api<unknown>(b, '/rest/system/ping'), 60_000, 5);
    const cpu0 = [a, b].map((s) => cpuTree(s.proc!.pid!));
    const t0 = performance.now();
    await until(
      'Syncthing B holds every file',
      async () => {
        const s = await api<FolderStatus>(b, '/rest/db/status?folder=bench');
        return s &&
          s.globalFiles >= scanned.localFiles &&
          s.needFiles === 0 &&
          s.inSyncBytes >= s.globalBytes &&
          s.state === 'idle'
          ? s
          : undefined;
      },
      1_800_000,
      100,
    );
    const ms = performance.now() - t0;
    const [cpuA, cpuB] = [a, b].map((s, i) => cpuTree(s.proc!.pid!) - cpu0[i]!);
    return { ms, cpuA: cpuA!, cpuB: cpuB! };
  } finally {
    for (const s of all) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const s of all) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}

const rate = (bytes: number, ms: number): number => bytes / MB / (ms / 1000);

async function main(): Promise<void> {
  const base = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'sd-xfer-bench-'));
  try {
    const data = makeData(realpathSync(base));
    const sets: [string, string, number, boolean][] = [
      [BIG_MB === 1024 ? '1 GiB file' : `${BIG_MB} MiB file`, data.big, BIG_MB * MB, !ONLY_VDFS || TAGS],
      ['10,000 files (100 MB)', data.small, 10_000 * 10_000, false],
    ];
    for (const [what, src, bytes, tags] of SMALL_ONLY ? sets.slice(1) : ONLY_VDFS ? sets.slice(0, 1) : sets) {
      const work = mkdtempSync(join(base, 'run-'));
      const v = await vdfs(work, src, tags);
      const ours = rate(bytes, v.ms);
      console.log(
        `${what}: vdfs ${(v.ms / 1000).toFixed(2)} s = ${ours.toFixed(0)} MiB/s (peak RSS: source ${(v.rssA / MB).toFixed(0)} MiB, receiver ${(v.rssB / MB).toFixed(0)} MiB; CPU: source ${v.cpuA.toFixed(1)} s (system ${v.sysA.toFixed(1)}), receiver ${v.cpuB.toFixed(1)} s (system ${v.sysB.toFixed(1)}) = ${(bytes / MB / v.cpuB).toFixed(0)} MiB per receiver CPU second)`,
      );
      console.log(
        `  receiver RSS peak by phase: ${Object.entries(v.byPhase)
          .map(([k, b]) => `${k} ${(b / MB).toFixed(0)} MiB`)
          .join(', ')}`,
      );
      console.log(`  receiver smaps: before ${v.where.before}; at the peak (${v.where.peak})`);
      if (tags && v.tagSamples)
        console.log(
          `  tag propagation A -> B: p50 ${v.tagIdle!.toFixed(0)} ms idle, ${v.tagBusy!.toFixed(0)} ms during the copy (${v.tagSamples} samples)`,
        );
      if (ONLY_VDFS) continue;
      if (hasCommand('rsync')) {
        const ms = rsync(work, src);
        console.log(
          `  rsync -a (local folders): ${(ms / 1000).toFixed(2)} s = ${rate(bytes, ms).toFixed(0)} MiB/s; vdfs/rsync ${(ours / rate(bytes, ms)).toFixed(2)}x`,
        );
      } else console.log('  rsync skipped: not installed (apt-get install -y rsync)');
      if (hasCommand('syncthing')) {
        const st = await syncthing(work, src);
        const ms = st.ms;
        console.log(
          `  Syncthing (loopback): ${(ms / 1000).toFixed(2)} s = ${rate(bytes, ms).toFixed(0)} MiB/s (CPU: source ${st.cpuA.toFixed(1)} s, receiver ${st.cpuB.toFixed(1)} s); vdfs/Syncthing ${(ours / rate(bytes, ms)).toFixed(2)}x the rate, ${(st.cpuA + st.cpuB) / (v.cpuA + v.cpuB) > 0 ? ((v.cpuA + v.cpuB) / (st.cpuA + st.cpuB)).toFixed(2) : '?'}x the CPU`,
        );
      } else console.log('  Syncthing skipped: not installed (apt-get install -y syncthing)');
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
