// Issue-5/15 peer bench: the index of a generated tree (3,000 and 100,000 files by default)
// exchanged between two devices on loopback, vdfs vs Syncthing (Debian package), in the same run.
//   vdfs, pairing inside the window: A indexes the tree (not timed); timed from `pair join` until
//         B holds A's whole feed (entries upserted, identified, aggregated: verified, appended,
//         projected).
//   vdfs, pairing outside: A and B pair first, the link is cut while A indexes, timed from the
//         link's return until B holds A's whole feed.
//   Syncthing: A scans the tree (not timed); B starts with A already configured, paused, and the
//         folder shared receive-only; timed from B resuming A (once B's API answers) until B's
//         global view has every file and folder of A. At the end of its window we read how much
//         file data B had pulled.
// Each vdfs device runs in its own process (bench/sync-child.ts), as each Syncthing device does
// (VDFS_INPROC=1: both in this process, as before). Both sides are polled at the same interval
// (POLL_MS), and both report the bytes their links carried in the window (both directions; vdfs:
// what the processes wrote to their sockets, Syncthing: B's connection counters) and the CPU time
// both processes spent in it (from /proc). 127.0.0.1 only; Syncthing with global/local discovery,
// relays, NAT, usage reporting, crash reporting and upgrades off. Skips Syncthing when missing.
// Each size runs RUNS rounds (3, or 1 at 1,000,000 files), each round vdfs inside, vdfs outside and
// Syncthing in turn; every round is printed, and the ratios are of the medians.
// Usage: node dist/bench/syncthing.js [TREE_DIR]   (SIZES=3000,100000 when no TREE_DIR; SIZES=100000 runs one)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchTree, hasCommand, loadAverage } from './lib.js';
import { cpuMsOf, vdfsExchangeProcs } from './sync-procs.js';
import { vdfsIndexExchange } from './sync-inproc.js';

process.env.SD_MDNS = 'off';
process.env.SD_P2P_HOST = '127.0.0.1';
const POLL_MS = Number(process.env.POLL_MS ?? 25);
/** VDFS_INPROC=1: both vdfs cores in this process (one thread), as before; default: one process each. */
const INPROC = process.env.VDFS_INPROC === '1';

export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 600_000,
  every = 20,
): Promise<T> {
  const end = Date.now() + ms;
  // Bounded by `ms`.
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** `n` distinct ports nothing listens on now (two freePort() calls in a row may give the same one). */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  // Bounded: a few hundred tries at most.
  for (let i = 0; ports.length < n && i < 300; i++) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  if (ports.length < n) throw new Error(`could not find ${n} distinct free ports`);
  return ports;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface St {
  home: string;
  id: string;
  key: string;
  gui: number;
  listen: number;
  proc?: ChildProcess;
}

export function generate(home: string): St {
  const out = spawnSync('syncthing', ['generate', `--home=${home}`, '--no-default-folder', '--skip-port-probing'], {
    encoding: 'utf8',
  });
  const id = /Device ID: (\S+)/.exec(out.stdout + out.stderr)?.[1];
  const key = /<apikey>([^<]+)<\/apikey>/.exec(readFileSync(join(home, 'config.xml'), 'utf8'))?.[1];
  if (!id || !key) throw new Error(`syncthing generate gave no device id / api key: ${out.stderr.slice(0, 300)}`);
  return { home, id, key, gui: 0, listen: 0 };
}

export function configure(
  me: St,
  other: St,
  folder: { path: string; type: 'sendonly' | 'receiveonly' },
  otherPaused = false,
): void {
  const file = join(me.home, 'config.xml');
  let x = readFileSync(file, 'utf8');
  const set = (tag: string, value: string): void => {
    const re = new RegExp(`<${tag}>[^<]*</${tag}>`);
    if (!re.test(x)) throw new Error(`config.xml has no <${tag}>`);
    x = x.replace(re, `<${tag}>${value}</${tag}>`);
  };
  set('listenAddress', `tcp://127.0.0.1:${me.listen}`);
  set('globalAnnounceEnabled', 'false');
  set('localAnnounceEnabled', 'false');
  set('relaysEnabled', 'false');
  set('natEnabled', 'false');
  set('startBrowser', 'false');
  set('urAccepted', '-1');
  set('autoUpgradeIntervalH', '0');
  set('crashReportingEnabled', 'false');
  set('setLowPriority', 'false');
  x = x.replace(
    /(<gui[^>]*>\s*<address>)[^<]*(<\/address>)/,
    (_m, open: string, close: string) => `${open}127.0.0.1:${me.gui}${close}`,
  ); // the GUI/API address
  const devices = [me, other].map((d) => `<device id="${d.id}"></device>`).join('');
  const blocks = `
    <folder id="bench" label="bench" path="${folder.path}" type="${folder.type}" rescanIntervalS="0" fsWatcherEnabled="false" ignorePerms="false" autoNormalize="true">
      <filesystemType>basic</filesystemType>${devices}<minDiskFree unit="%">${folder.type === 'receiveonly' ? 100 : 0}</minDiskFree>
    </folder>
    <device id="${other.id}" name="other" compression="metadata" introducer="false"><address>tcp://127.0.0.1:${other.listen}</address><paused>${otherPaused}</paused></device>
    `;
  x = x.replace('<gui ', `${blocks}<gui `);
  writeFileSync(file, x);
}

export async function api<T>(st: St, path: string, method: 'GET' | 'POST' = 'GET'): Promise<T | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${st.gui}${path}`, { method, headers: { 'X-API-Key': st.key } });
    if (r.ok && method === 'POST') return {} as T;
    return r.ok ? ((await r.json()) as T) : undefined;
  } catch {
    return undefined; // not up yet
  }
}

interface DbStatus {
  state: string;
  localBytes: number;
  localFiles: number;
  localDirectories: number;
  globalFiles: number;
  globalDirectories: number;
}

export function serve(st: St): void {
  st.proc = spawn('syncthing', ['serve', `--home=${st.home}`, '--no-browser', '--no-restart', '--no-upgrade'], {
    stdio: 'ignore',
    env: { ...process.env, STNODEFAULTFOLDER: '1', STNOUPGRADE: '1' },
  });
}

interface Pulled {
  dbFiles: number;
  dbBytes: number;
  diskFiles: number;
  diskBytes: number;
  diskNames: string[];
}

/** Files (not folders, not Syncthing's own .stfolder marker) and their bytes below `dir`. */
function du(dir: string): { files: number; bytes: number; names: string[] } {
  let files = 0;
  let bytes = 0;
  const names: string[] = [];
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.parentPath.includes('.stfolder') || e.name.startsWith('.sync')) continue;
    files++;
    bytes += statSync(join(e.parentPath, e.name)).size;
    if (names.length < 3) names.push(join(e.parentPath, e.name).slice(dir.length + 1));
  }
  return { files, bytes, names };
}

/** Syncthing: ms for B to learn A's whole index of `root`, and the counts it then knows. */
export async function syncthingIndexExchange(
  root: string,
): Promise<{ ms: number; cpuMs: number; files: number; dirs: number; scanMs: number; bytes: number; pulled: Pulled }> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-st-'));
  const a = generate(join(dir, 'a'));
  const b = generate(join(dir, 'b'));
  try {
    [a.gui, a.listen, b.gui, b.listen] = (await freePorts(4)) as [number, number, number, number];
    mkdirSync(join(dir, 'b-folder'));
    configure(a, b, { path: root, type: 'sendonly' });
    // B's folder needs 100% of its disk free before it pulls a file, so it never pulls: its window
    // is the index exchange alone, as ours is (at 3,000 files it had pulled up to 41 files inside
    // it). B starts with A paused: with A live, B could connect and take A's whole index while its
    // own API was still starting (at 3,000 files, one window of the nineteenth session was 2 ms,
    // CPU 0, its index already on the wire). Its clock starts as A is resumed, as ours starts
    // as the link returns: the connection, its handshake and the exchange are all inside.
    configure(b, a, { path: join(dir, 'b-folder'), type: 'receiveonly' }, true);
    serve(a);
    const s0 = performance.now();
    const scanned = await until(
      'Syncthing A scanned the tree',
      async () => {
        const s = await api<DbStatus>(a, '/rest/db/status?folder=bench');
        return s && s.state === 'idle' && s.localFiles > 0 ? s : undefined;
      },
      900_000,
      100,
    );
    const scanMs = performance.now() - s0;
    serve(b);
    await until('Syncthing B API', () => api<unknown>(b, '/rest/system/ping'), 60_000, POLL_MS);
    const cpu = (): number => cpuMsOf(a.proc?.pid) + cpuMsOf(b.proc?.pid);
    const cpu0 = cpu();
    const t0 = performance.now();
    if (!(await api<unknown>(b, `/rest/system/resume?device=${a.id}`, 'POST')))
      throw new Error('Syncthing B did not resume device A');
    const got = await until(
      'Syncthing B knows the whole index',
      async () => {
        const s = await api<DbStatus>(b, '/rest/db/status?folder=bench');
        return s && s.globalFiles >= scanned.localFiles && s.globalDirectories >= scanned.localDirectories
          ? s
          : undefined;
      },
      600_000,
      POLL_MS,
    );
    const ms = performance.now() - t0;
    const cpuMs = cpu() - cpu0;
    // What B had pulled by the end of its window: its database's view and the folder on disk.
    const onDisk = du(join(dir, 'b-folder'));
    const conns = await api<{ total: { inBytesTotal: number; outBytesTotal: number } }>(b, '/rest/system/connections');
    return {
      ms,
      cpuMs,
      files: got.globalFiles,
      dirs: got.globalDirectories,
      scanMs,
      bytes: conns ? conns.total.inBytesTotal + conns.total.outBytesTotal : NaN,
      pulled: {
        dbFiles: got.localFiles,
        dbBytes: got.localBytes,
        diskFiles: onDisk.files,
        diskBytes: onDisk.bytes,
        diskNames: onDisk.names,
      },
    };
  } finally {
    for (const s of [a, b]) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const s of [a, b]) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The middle value (the lower of the two middle ones for an even count). */
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)]!;

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv[2] ? [0] : (process.env.SIZES ?? '3000,100000').split(',').map(Number);
  // Rounds per size: each runs vdfs with the pairing inside, vdfs with it outside, then Syncthing,
  // so both sides see the machine's same minutes; the ratios are of the medians (RUNS=1: one run).
  const RUNS = Math.max(1, Number(process.env.RUNS ?? (sizes.some((n) => n >= 1_000_000) ? 1 : 3)));
  const haveSt = hasCommand('syncthing');
  if (!haveSt) console.log('syncthing not found: apt-get install -y syncthing');
  else console.log(spawnSync('syncthing', ['--version'], { encoding: 'utf8' }).stdout.trim());
  const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);
  type Ours = { ms: number; cpuMs: number; entries: number; events: number; bytes: number };
  for (const size of sizes) {
    const root = size === 0 ? benchTree(process.argv[2]) : benchTree(undefined, size);
    console.log(
      `\ntree ${root}; load average ${loadAverage()}; both sides polled every ${POLL_MS} ms; ${RUNS} round(s)`,
    );
    const ours: Record<'inside' | 'outside', Ours[]> = { inside: [], outside: [] };
    const theirs: Array<Awaited<ReturnType<typeof syncthingIndexExchange>>> = [];
    for (let run = 1; run <= RUNS; run++) {
      for (const pairing of ['inside', 'outside'] as const) {
        const o = INPROC
          ? await vdfsIndexExchange(root, pairing, POLL_MS)
          : await vdfsExchangeProcs(root, pairing, POLL_MS);
        ours[pairing].push(o);
        console.log(
          `round ${run}: vdfs (${INPROC ? 'both cores in this process' : 'two processes'}), pairing ${pairing} the window: B replicated ${o.entries} entries (${o.events} events) in ${o.ms.toFixed(0)} ms = ${rate(o.entries, o.ms)} entries/s; CPU ${o.cpuMs.toFixed(0)} ms = ${((o.cpuMs * 1000) / o.entries).toFixed(1)} us/entry; ${o.bytes.toLocaleString('en-US')} bytes on the wire = ${(o.bytes / o.entries).toFixed(1)} bytes/entry`,
        );
      }
      if (!haveSt) continue;
      const st = await syncthingIndexExchange(root);
      theirs.push(st);
      const n = st.files + st.dirs;
      console.log(
        `round ${run}: Syncthing: B learned A's index (${st.files} files, ${st.dirs} folders) in ${st.ms.toFixed(0)} ms = ${rate(n, st.ms)} entries/s; CPU ${st.cpuMs.toFixed(0)} ms = ${((st.cpuMs * 1000) / n).toFixed(1)} us/entry; ${st.bytes.toLocaleString('en-US')} bytes on the wire = ${(st.bytes / n).toFixed(1)} bytes/entry (A's scan, not timed: ${(st.scanMs / 1000).toFixed(1)} s)`,
      );
      console.log(
        `round ${run}: Syncthing B had pulled, at the end of its window: ${st.pulled.dbFiles} files / ${st.pulled.dbBytes} bytes in its database, ${st.pulled.diskFiles} files / ${st.pulled.diskBytes} bytes on disk${st.pulled.diskNames.length ? ` (${st.pulled.diskNames.join(', ')})` : ''}`,
      );
      for (const pairing of ['inside', 'outside'] as const) {
        const o = ours[pairing][run - 1]!;
        console.log(
          `round ${run}: vdfs/Syncthing, pairing ${pairing}: ${(o.entries / o.ms / (n / st.ms)).toFixed(2)}x the rate`,
        );
      }
    }
    if (!haveSt || theirs.length === 0) continue;
    const n = theirs[0]!.files + theirs[0]!.dirs;
    const stMs = median(theirs.map((t) => t.ms));
    const stCpu = median(theirs.map((t) => t.cpuMs)) / n;
    const stBytes = median(theirs.map((t) => t.bytes)) / n;
    console.log(
      `Syncthing, median of ${theirs.length}: ${stMs.toFixed(0)} ms (runs ${theirs.map((t) => t.ms.toFixed(0)).join(', ')})`,
    );
    for (const pairing of ['inside', 'outside'] as const) {
      const os = ours[pairing];
      const entries = os[0]!.entries;
      const ms = median(os.map((o) => o.ms));
      console.log(
        `vdfs/Syncthing, pairing ${pairing}, medians: ${ms.toFixed(0)} ms (runs ${os.map((o) => o.ms.toFixed(0)).join(', ')}) against ${stMs.toFixed(0)} ms: ${(entries / ms / (n / stMs)).toFixed(2)}x the rate (target >= 2x); CPU per entry ${(median(os.map((o) => o.cpuMs)) / entries / stCpu).toFixed(2)}x Syncthing's; bytes/entry ${(median(os.map((o) => o.bytes)) / entries / stBytes).toFixed(2)}x Syncthing's`,
      );
    }
  }
}
