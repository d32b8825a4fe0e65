// Sync across NATs, on a topology the test builds (test/support/netns.ts): laptop A behind r1, laptop
// B behind r2 (both MASQUERADE), the always-on node and coturn in `inet`, C a third laptop on `inet`
// itself. Real daemons started in the namespaces through the real `sd`; the node hands the laptops
// its TURN settings (coturn's `use-auth-secret`), the laptops configure nothing. In order:
// 1. through the node: no TURN yet, A and B pair through the node and sync;
// 2. relay otherwise: coturn up, A and B (both NATed) link through it and converge;
// 3. failover: coturn killed mid-sync, they fall back to the node with no event lost, and coturn
//    back restores the relayed link;
// 4. direct where possible: A and C (one side NATed) relay through coturn while the direct path is
//    cut, switch to the direct path once it opens (no event lost), and go on with the node stopped;
// 5. a capture in `inet` through all of it shows no file name, tag or note.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SD, pidOf, type Run } from '../cli/helpers.js';
import { buildTopology, netnsUnavailable, startTurn, type Topology } from '../support/netns.js';

const tool = (name: string, pkg: string): string | undefined =>
  spawnSync('which', [name]).status === 0 ? undefined : `${name} is not installed (apt-get install -y ${pkg})`;
const why = netnsUnavailable() ?? tool('turnserver', 'coturn') ?? tool('tcpdump', 'tcpdump');
const SECRET = 'nat-test-secret-0123456789';

interface Dev {
  dir: string;
  ns: string;
  ip: string;
  id: string;
}

let topo: Topology | undefined;
const daemons: string[] = [];
const procs: ChildProcess[] = [];
let root = '';
let coturn: ChildProcess | undefined;
let turnLog = '';
const devs: Record<'node' | 'a' | 'b' | 'c', Dev> = {} as never;
// Names that must never cross `inet` in clear.
const SECRETS = ['kayak-itinerary-zq7.pdf', 'tag-from-a-xq9', 'tag-from-b-wv4', 'note-text-hv3 private'];

function sdIn(ns: string | null, dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const cmd = [process.execPath, SD, '--data-dir', dir, ...args];
  const r = spawnSync(ns ? 'ip' : cmd[0]!, ns ? ['netns', 'exec', ns, ...cmd] : cmd.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, SD_MDNS: 'off', NO_COLOR: '1', ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const sd = (d: Dev, args: string[]): Run => sdIn(null, d.dir, args);
function json<T>(d: Dev, args: string[]): T | undefined {
  const r = sd(d, ['--json', ...args]);
  return r.code === 0 ? (JSON.parse(r.out) as T) : undefined;
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      // What each device saw, for the one reading the failure.
      const seen = Object.entries(devs).map(([k, d]) => `${k}: ${sd(d, ['--json', 'sync', 'status']).out}`);
      throw new Error(`timed out after ${ms} ms waiting for ${what}\n${seen.join('\n')}\ncoturn: ${turnLog}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function startDev(name: keyof typeof devs, ns: string, ip: string, flags: string[], env: NodeJS.ProcessEnv = {}): Dev {
  const dir = join(root, name);
  // A relayed link looks for a direct path every 5 s here (every minute by default).
  const r = sdIn(ns, dir, ['start', '--p2p-port', '0', '--device-name', name, ...flags], {
    ...{ SD_P2P_HOST: ip, SD_DIRECT_PROBE_MS: '5000' },
    ...env,
  });
  if (r.code !== 0) throw new Error(`sd start in ${ns}: ${r.err}`);
  daemons.push(dir);
  const id = (JSON.parse(sdIn(null, dir, ['--json', 'status']).out) as { device: { id: string } }).device.id;
  return (devs[name] = { dir, ns, ip, id });
}

function stopDev(d: Dev): void {
  const pid = pidOf(d.dir);
  sd(d, ['stop']);
  if (pid)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
}

function startCoturn(): void {
  coturn = startTurn(topo!, join(root, 'turn'), SECRET, (d) => (turnLog = (turnLog + d).slice(-20000)));
  procs.push(coturn);
}

function stopCoturn(): void {
  // `ip netns exec` execs turnserver in place: this pid is coturn's.
  coturn?.kill('SIGKILL');
  coturn = undefined;
}

interface PeerRow {
  device: string;
  path: string | null;
  rttMs: number | null;
  since: number | null;
}
const peerOf = (d: Dev, other: Dev): PeerRow | undefined =>
  json<{ peers: PeerRow[] }>(d, ['sync', 'status'])?.peers.find((p) => p.device === other.id);
const pathTo = (d: Dev, other: Dev): string | null => peerOf(d, other)?.path ?? null;
const tags = (d: Dev): string[] => (json<{ name: string }[]>(d, ['tag', 'list']) ?? []).map((x) => x.name);
const finds = (d: Dev, name: string): boolean => {
  const v = json<{ name: string }[] | { results: { name: string }[] }>(d, ['search', name]);
  return !!v && (Array.isArray(v) ? v : v.results).some((h) => h.name === name);
};

let capture: ChildProcess | undefined;
const pcap = (): string => join(root, 'inet.pcap');

if (why) test('sync across NATs (network namespaces)', (t) => t.log(`skipped: ${why}`) ?? t.pass());
else {
  test.before(() => {
    root = mkdtempSync(join(tmpdir(), 'sd-nat-'));
    topo = buildTopology();
    capture = spawn('ip', ['netns', 'exec', topo.ns.inet, 'tcpdump', '-i', 'any', '-U', '-s', '0', '-w', pcap()], {
      stdio: 'ignore',
    });
    procs.push(capture);
  });
  test.after.always(() => {
    for (const dir of daemons) {
      const pid = pidOf(dir);
      sdIn(null, dir, ['stop']);
      if (pid)
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
    }
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    topo?.remove();
    rmSync(root, { recursive: true, force: true });
  });

  test.serial('1. through the node: A and B, each behind its NAT, pair through the node and sync', async (t) => {
    t.timeout(180_000);
    const T = topo!;
    const node = startDev(
      'node',
      T.ns.inet,
      T.ip.inet,
      [...['--ice-servers', `turn:${T.ip.inet}:3478,stun:${T.ip.inet}:3478`, '--share-ice']],
      { SD_ICE_TURN_SECRET: SECRET },
    );
    const a = startDev('a', T.ns.a, T.ip.a, []);
    const b = startDev('b', T.ns.b, T.ip.b, []);
    for (const d of [a, b]) {
      const code = json<{ result: { code: string } }>(node, ['pair', 'invite'])!.result.code;
      const r = sd(d, ['pair', 'join', code]);
      t.is(r.code, 0, r.err);
    }
    const files = realDir(a.dir);
    t.is(sd(a, ['location', 'add', files, '--wait']).code, 0);
    await until('B sees A files', () => finds(b, SECRETS[0]!), 60_000);
    t.is(sd(a, ['tag', 'create', SECRETS[1]!]).code, 0);
    t.is(sd(b, ['tag', 'create', SECRETS[2]!]).code, 0);
    t.is(sd(a, ['note', `${files}/${SECRETS[0]}`, SECRETS[3]!]).code, 0);
    await until(
      'tags converge',
      () => [a, b].every((d) => tags(d).includes(SECRETS[1]!) && tags(d).includes(SECRETS[2]!)),
      60_000,
    );
    // No path between A and B without TURN: the node carried it all.
    t.is(pathTo(a, b), null);
    t.regex(pathTo(a, node) ?? '', /^lan-ws$/);
  });

  function realDir(dir: string): string {
    const files = join(dir, '..', 'files-a');
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, SECRETS[0]!), 'kayak plans');
    return files;
  }

  test.serial('2. relay otherwise: with coturn up, A and B link through the TURN relay and converge', async (t) => {
    t.timeout(180_000);
    const { a, b } = devs;
    startCoturn();
    await until(
      'A and B on a relayed link',
      () => pathTo(a, b) === 'webrtc-relay' && pathTo(b, a) === 'webrtc-relay',
      120_000,
    );
    const row = peerOf(a, b)!;
    t.true(row.since! > 0 && row.since! <= Date.now());
    t.is(sd(a, ['tag', 'create', 'relayed-1']).code, 0);
    await until('the tag crossed the relay', () => tags(b).includes('relayed-1'), 30_000);
    const listed = json<{ id: string; path: string | null }[]>(a, ['device', 'list'])!.find((r) => r.id === b.id);
    t.is(listed?.path, 'webrtc-relay', '`sd device list` says so too');
    await until('an RTT measured', () => (peerOf(a, b)?.rttMs ?? null) !== null, 30_000);
  });

  test.serial(
    '3. failover: coturn killed mid-sync, the node carries the feed, nothing is lost; coturn back restores the relay',
    async (t) => {
      t.timeout(240_000);
      const { a, b } = devs;
      const names = Array.from({ length: 30 }, (_, i) => `failover-${i}`);
      for (const [i, n] of names.entries()) {
        if (i === 10) stopCoturn();
        t.is(sd(a, ['tag', 'create', n]).code, 0);
      }
      await until('every tag reached B', () => names.every((n) => tags(b).includes(n)), 90_000);
      await until('the relayed link is gone', () => pathTo(a, b) !== 'webrtc-relay', 60_000);
      startCoturn();
      await until('relayed again', () => pathTo(a, b) === 'webrtc-relay', 150_000);
      t.pass();
    },
  );

  /** Drops everything between C's address and r1's (A's NAT) in `inet`: C then reaches A only through coturn. */
  function cutAtoC(on: boolean): void {
    const T = topo!;
    for (const [chain, from, to] of [
      ['OUTPUT', T.ip.inet2, T.ip.r1],
      ['INPUT', T.ip.r1, T.ip.inet2],
    ] as const) {
      const r = spawnSync('ip', [
        ...['netns', 'exec', T.ns.inet, 'iptables', on ? '-I' : '-D', chain],
        ...['-s', from, '-d', to, '-j', 'DROP'],
      ]);
      if (r.status !== 0) throw new Error(`iptables ${chain}: ${r.stderr}`);
    }
  }

  test.serial(
    '4. direct where possible: A (NATed) and C (on inet) relay while the direct path is cut, switch to it once it opens without losing an event, and sync with the node stopped',
    async (t) => {
      t.timeout(300_000);
      const T = topo!;
      const { node, a } = devs;
      cutAtoC(true);
      const c = startDev('c', T.ns.inet, T.ip.inet2, []);
      const code = json<{ result: { code: string } }>(node, ['pair', 'invite'])!.result.code;
      t.is(sd(c, ['pair', 'join', code]).code, 0);
      await until('A and C on a relayed link', () => pathTo(a, c) === 'webrtc-relay', 120_000);
      // The direct path opens while A writes: the probe finds it, and the direct link replaces the
      // relayed one. Every event written meanwhile arrives.
      const names = Array.from({ length: 12 }, (_, i) => `switch-${i}`);
      for (const [i, n] of names.entries()) {
        if (i === 4) cutAtoC(false);
        t.is(sd(a, ['tag', 'create', n]).code, 0);
      }
      await until('A and C linked directly', () => /^webrtc-direct/.test(pathTo(a, c) ?? ''), 120_000);
      t.regex(pathTo(c, a) ?? '', /^webrtc-direct \((host|srflx)\)$/);
      await until('every tag reached C', () => names.every((n) => tags(c).includes(n)), 60_000);
      stopDev(node);
      t.is(sd(a, ['tag', 'create', 'direct-1']).code, 0);
      t.is(sd(c, ['tag', 'create', 'direct-2']).code, 0);
      await until(
        'tags converge without the node',
        () => tags(c).includes('direct-1') && tags(a).includes('direct-2'),
        60_000,
      );
    },
  );

  test.serial('5. ciphertext only: the capture in inet holds no file name, tag or note', async (t) => {
    capture?.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 500));
    const bytes = readFileSync(pcap());
    t.true(bytes.length > 10_000, `a capture of ${bytes.length} bytes`);
    for (const s of SECRETS) t.is(bytes.indexOf(Buffer.from(s)), -1, `"${s}" in clear`);
    // The check can fail: the laptops' own device names do cross in clear nowhere either.
    t.is(bytes.indexOf(Buffer.from('failover-1')), -1);
  });
}
