// Issue-2 benches: event append (sign + project), log verify, and `sd status` round trip,
// each printed next to a peer measured in the same run (a plain SQLite insert, `node -e 0`).
import Database from 'better-sqlite3-multiple-ciphers';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../src/core.js';
import { verifyLogParallel } from '../src/events/verify.js';
import { rosterLookup } from '../src/ops/log/queries.js';
import { newLocationId } from '../src/projections/rules.js';
import { loadAverage, mainThreadMs } from './lib.js';

const N_APPEND = Number(process.env.N_APPEND ?? 10_000);
const N_VERIFY = Number(process.env.N_VERIFY ?? 100_000);
// Group commit puts at most this many units in one transaction (src/store's writer).
const GROUP = 500;
const SD = fileURLToPath(new URL('../../bin/sd.js', import.meta.url));

function row(name: string, ours: string, peer: string, ratio: string): void {
  console.log(`${name.padEnd(34)} ${ours.padStart(18)} ${peer.padStart(24)} ${ratio.padStart(8)}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-'));
  try {
    const core = await Core.open(dir, { services: false });
    const lib = core.libraries.resolve();
    // The single event a daemon appends most often: the watcher's one changed file. (A library
    // rename, used before, now also changes a shared document and the log's name book: ~5 ms each.)
    const loc = newLocationId(core.device.id);
    lib.write(() => lib.append('location.added', { id: loc, path: dir, name: 'bench', watch: false, rules: {} }));
    const one = (name: string, i: number): void => {
      lib.append('entries.upserted', {
        loc,
        e: [[`${name}-${i % 1000}.txt`, 0, i, 1.7e12 + i, 10 + (i % 1000), 'text']],
      });
    };
    // ours: N single events, each signed, appended and projected as its own unit; units that
    // arrive together share a commit (group commit, the daemon's normal path)...
    let t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadMs();
    for (let i = 0; i < N_APPEND; i++) lib.write(() => one('n', i));
    lib.flush();
    const appendMs = performance.now() - t0;
    // CPU per event: the main thread's (what bounds the rate) and the process's (the signing thread too)
    const appendMainUs = ((mainThreadMs() - main0) * 1000) / N_APPEND;
    const cpu = process.cpuUsage(cpu0);
    const appendCpuUs = (cpu.user + cpu.system) / N_APPEND;
    // ...and, for comparison, each one committed before the next is made (no grouping at all)
    t0 = performance.now();
    for (let i = 0; i < N_APPEND; i++) {
      lib.write(() => one('s', i));
      lib.flush();
    }
    const soloMs = performance.now() - t0;
    // peer: the same number of single-row transactions into a plain SQLite table
    const plain = new Database(join(dir, 'plain.db'));
    plain.pragma('journal_mode = WAL');
    plain.pragma('synchronous = NORMAL');
    plain.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)');
    const ins = plain.prepare('INSERT INTO t (v) VALUES (?)');
    const payload = Buffer.alloc(120, 1);
    t0 = performance.now();
    for (let i = 0; i < N_APPEND; i++) plain.transaction(() => ins.run(payload))();
    const plainMs = performance.now() - t0;
    // the honest peer of group commit: the same rows grouped as ours are (GROUP per transaction)
    t0 = performance.now();
    for (let i = 0; i < N_APPEND; i += GROUP)
      plain.transaction(() => {
        for (let j = i; j < Math.min(N_APPEND, i + GROUP); j++) ins.run(payload);
      })();
    const groupedMs = performance.now() - t0;
    plain.close();
    console.log(`load average ${loadAverage()}`);
    console.log(`${'bench'.padEnd(34)} ${'vdfs'.padStart(18)} ${'peer'.padStart(24)} ${'ratio'.padStart(8)}`);
    row(
      `append ${N_APPEND} single-file upserts (grouped)`,
      `${Math.round((N_APPEND / appendMs) * 1000)} ev/s`,
      `${Math.round((N_APPEND / groupedMs) * 1000)} rows/s sqlite x${GROUP}`,
      `${(appendMs / groupedMs).toFixed(2)}x`,
    );
    console.log(
      `  CPU per grouped event: main thread ${appendMainUs.toFixed(0)} us, whole process ${appendCpuUs.toFixed(0)} us`,
    );
    row(
      `  ... one commit per event`,
      `${Math.round((N_APPEND / soloMs) * 1000)} ev/s`,
      `${Math.round((N_APPEND / plainMs) * 1000)} rows/s sqlite`,
      `${(soloMs / plainMs).toFixed(2)}x`,
    );

    // verify: grow the log to N_VERIFY events in batches, then verify all of it
    const more = Math.max(0, N_VERIFY - lib.log.count());
    for (let i = 0; i < more; i += 5000)
      lib.write(() => {
        for (let j = i; j < Math.min(more, i + 5000); j++) one('m', j);
      });
    t0 = performance.now();
    const rep = await verifyLogParallel(lib.db, lib.id, rosterLookup(lib.db), lib.opened);
    const verifyMs = performance.now() - t0;
    if (!rep.ok) throw new Error('verify failed in bench');
    t0 = performance.now();
    let n = 0;
    for (const _ of lib.db.prepare('SELECT dev, seq, hash, bytes, sig FROM events ORDER BY dev, seq').iterate()) n++;
    const scanMs = performance.now() - t0;
    row(
      `log verify ${rep.events} events`,
      `${Math.round((rep.events / verifyMs) * 1000)} ev/s`,
      `${Math.round((n / scanMs) * 1000)} rows/s scan`,
      `${(verifyMs / scanMs).toFixed(1)}x`,
    );
    await core.close();

    // sd status round trip vs node -e 0 (process start to exit), median of 15
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const time = (cmd: string, args: string[]): number => {
      const s = performance.now();
      spawnSync(cmd, args, { stdio: 'ignore', env: { ...process.env, SD_DATA_DIR: dir } });
      return performance.now() - s;
    };
    const start = spawnSync(process.execPath, [SD, 'start', '--data-dir', dir], { encoding: 'utf8' });
    if (start.status !== 0) throw new Error(`sd start failed: ${start.stderr}`);
    try {
      const st: number[] = [];
      const ne: number[] = [];
      for (let i = 0; i < 15; i++) {
        st.push(time(process.execPath, [SD, 'status']));
        ne.push(time(process.execPath, ['-e', '0']));
      }
      row(
        'sd status round trip (median)',
        `${median(st).toFixed(0)} ms`,
        `${median(ne).toFixed(0)} ms node -e 0`,
        `${(median(st) / median(ne)).toFixed(2)}x`,
      );
    } finally {
      spawnSync(process.execPath, [SD, 'stop', '--data-dir', dir], { stdio: 'ignore' });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
