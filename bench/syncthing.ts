// Issue-5 peer bench: the index of the 100,000-file bench tree exchanged between two devices on
// loopback, vdfs vs Syncthing (Debian package), timed in the same run.
//   vdfs: A indexes the tree (not timed); B pairs with A; timed from `pair join` until B holds
//         A's whole feed (entries upserted, identified, aggregated: verified, appended, projected).
//   Syncthing: A scans the tree (not timed); B starts with the folder shared receive-only; timed
//         from B's API answering until B's global view has every file and folder of A.
// Both sides: 127.0.0.1 only; Syncthing with global/local discovery, relays, NAT, usage
// reporting, crash reporting and upgrades off. Skips Syncthing when the binary is missing.
// Usage: node dist/bench/syncthing.js [TREE_DIR]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core.js';
import { benchTree, hasCommand } from './lib.js';

process.env.SD_MDNS = 'off';
process.env.SD_P2P_HOST = '127.0.0.1';

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

/** vdfs: ms for B to replicate A's index of `root`, and how many entries B then holds. */
export async function vdfsIndexExchange(root: string): Promise<{ ms: number; entries: number; events: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-vs-st-'));
  const a = await Core.open(join(dir, 'a'));
  const b = await Core.open(join(dir, 'b'));
  try {
    await a.startPeers('127.0.0.1', 0);
    await b.startPeers('127.0.0.1', 0);
    const added = await a.command<{ job: string }>('location.add', { path: root, watch: false });
    await until(
      'the index on A',
      async () => {
        const j = await a.query<{ state: string }>('job.info', { ref: added.result!.job });
        return ['completed', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
      },
      600_000,
      50,
    );
    const lib = a.libraries.resolve();
    lib.flush();
    const heads = (c: Core): string => JSON.stringify([...c.libraries.resolve(lib.id).log.heads()].sort());
    const inv = await a.command<{ code: string }>('pair.invite', {});
    const t0 = performance.now();
    await b.command('pair.join', { code: inv.result!.code });
    await until('B caught up', () => (heads(a) === heads(b) ? true : undefined), 600_000, 5);
    const ms = performance.now() - t0;
    const lb = b.libraries.resolve(lib.id);
    const entries = (lb.db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
    const events = (lb.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    return { ms, entries, events };
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
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

export function configure(me: St, other: St, folder: { path: string; type: 'sendonly' | 'receiveonly' }): void {
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
      <filesystemType>basic</filesystemType>${devices}<minDiskFree unit="%">0</minDiskFree>
    </folder>
    <device id="${other.id}" name="other" compression="metadata" introducer="false"><address>tcp://127.0.0.1:${other.listen}</address><paused>false</paused></device>
    `;
  x = x.replace('<gui ', `${blocks}<gui `);
  writeFileSync(file, x);
}

export async function api<T>(st: St, path: string): Promise<T | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${st.gui}${path}`, { headers: { 'X-API-Key': st.key } });
    return r.ok ? ((await r.json()) as T) : undefined;
  } catch {
    return undefined; // not up yet
  }
}

interface DbStatus {
  state: string;
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

/** Syncthing: ms for B to learn A's whole index of `root`, and the counts it then knows. */
export async function syncthingIndexExchange(
  root: string,
): Promise<{ ms: number; files: number; dirs: number; scanMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-st-'));
  const a = generate(join(dir, 'a'));
  const b = generate(join(dir, 'b'));
  try {
    for (const s of [a, b]) [s.gui, s.listen] = [await freePort(), await freePort()];
    mkdirSync(join(dir, 'b-folder'));
    configure(a, b, { path: root, type: 'sendonly' });
    configure(b, a, { path: join(dir, 'b-folder'), type: 'receiveonly' });
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
    await until('Syncthing B API', () => api<unknown>(b, '/rest/system/ping'), 60_000, 5);
    const t0 = performance.now();
    const got = await until(
      'Syncthing B knows the whole index',
      async () => {
        const s = await api<DbStatus>(b, '/rest/db/status?folder=bench');
        return s && s.globalFiles >= scanned.localFiles && s.globalDirectories >= scanned.localDirectories
          ? s
          : undefined;
      },
      600_000,
      5,
    );
    return { ms: performance.now() - t0, files: got.globalFiles, dirs: got.globalDirectories, scanMs };
  } finally {
    for (const s of [a, b]) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const s of [a, b]) if (s.proc && s.proc.exitCode === null) s.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = benchTree(process.argv[2]);
  const ours = await vdfsIndexExchange(root);
  console.log(
    `vdfs: B replicated A's index of ${root} (${ours.entries} entries, ${ours.events} events) in ${ours.ms.toFixed(0)} ms = ${Math.round((ours.entries / ours.ms) * 1000)} entries/s`,
  );
  if (!hasCommand('syncthing')) {
    console.log('syncthing not found: apt-get install -y syncthing');
  } else {
    const st = await syncthingIndexExchange(root);
    const n = st.files + st.dirs;
    console.log(
      `Syncthing: B learned A's index (${st.files} files, ${st.dirs} folders) in ${st.ms.toFixed(0)} ms = ${Math.round((n / st.ms) * 1000)} entries/s (A's scan, not timed: ${(st.scanMs / 1000).toFixed(1)} s)`,
    );
    console.log(`vdfs/Syncthing: ${(ours.entries / ours.ms / (n / st.ms)).toFixed(2)}x the rate`);
  }
}
