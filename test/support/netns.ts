// Network namespaces a test builds for itself (root only): laptop A in `a` behind router `r1`,
// laptop B in `b` behind `r2` (each router MASQUERADEs its LAN), and `inet` between the routers,
// a bridge holding the always-on node and coturn. A and B cannot reach each other; both reach
// `inet`. Names carry the test's pid so parallel runs do not meet; everything is removed at the end,
// also when the test fails (deleting a namespace kills nothing: the caller stops its processes first).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Topology {
  ns: { a: string; b: string; inet: string; r1: string; r2: string };
  /** Addresses: the laptops' own (private), the node's and coturn's in inet, a second inet host. */
  ip: { a: string; b: string; inet: string; inet2: string; r1: string; r2: string };
  remove(): void;
}

function run(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

const inNs = (ns: string, cmd: string[]): void => {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${ns}: ${cmd.join(' ')}: ${r.stderr || r.error?.message}`);
};

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'iptables']) if (spawnSync('which', [tool]).status !== 0) return `${tool} is not installed`;
  const probe = `sdprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add is not allowed here: ${r.stderr.trim()}`;
  const nat = spawnSync(
    'ip',
    ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'MASQUERADE'],
    {
      encoding: 'utf8',
    },
  );
  spawnSync('ip', ['netns', 'del', probe]);
  if (nat.status !== 0) return `iptables MASQUERADE is not available: ${nat.stderr.trim()}`;
  return undefined;
}

export function buildTopology(): Topology {
  const tag = `sd${process.pid % 100000}`;
  const ns = { a: `${tag}a`, b: `${tag}b`, inet: `${tag}inet`, r1: `${tag}r1`, r2: `${tag}r2` };
  const ip = {
    a: '10.1.0.2',
    b: '10.2.0.2',
    inet: '198.51.100.1',
    inet2: '198.51.100.2',
    r1: '198.51.100.11',
    r2: '198.51.100.12',
  };
  const made: string[] = [];
  const remove = (): void => {
    for (const n of made.reverse()) spawnSync('ip', ['netns', 'del', n]);
    made.length = 0;
  };
  try {
    for (const n of Object.values(ns)) {
      run(['netns', 'add', n]);
      made.push(n);
      inNs(n, ['ip', 'link', 'set', 'lo', 'up']);
    }
    inNs(ns.inet, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    inNs(ns.inet, ['ip', 'addr', 'add', `${ip.inet}/24`, 'dev', 'br0']);
    inNs(ns.inet, ['ip', 'addr', 'add', `${ip.inet2}/24`, 'dev', 'br0']);
    inNs(ns.inet, ['ip', 'link', 'set', 'br0', 'up']);
    // The rest of the Internet: a default route whose packets vanish (a gateway MAC nobody has).
    // Without it coturn's sends to a laptop's private candidate fail at once (ENETUNREACH) and coturn
    // closes the whole allocation; on a real network such packets are dropped silently, as here.
    inNs(ns.inet, ['ip', 'link', 'add', 'sink0', 'type', 'veth', 'peer', 'name', 'sink1']);
    inNs(ns.inet, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'sink0']);
    inNs(ns.inet, ['ip', 'link', 'set', 'sink0', 'up']);
    inNs(ns.inet, ['ip', 'link', 'set', 'sink1', 'up']);
    inNs(ns.inet, [
      'ip',
      'neigh',
      'add',
      '192.0.2.254',
      'lladdr',
      '02:00:00:00:00:01',
      'dev',
      'sink0',
      'nud',
      'permanent',
    ]);
    inNs(ns.inet, ['ip', 'route', 'add', 'default', 'via', '192.0.2.254', 'dev', 'sink0']);
    const routers: [string, string, string, string][] = [
      [ns.r1, ns.a, ip.r1, '10.1.0'],
      [ns.r2, ns.b, ip.r2, '10.2.0'],
    ];
    for (const [r, lan, wan, net] of routers) {
      // The router's WAN port on the inet bridge, its LAN port to the laptop.
      run(['link', 'add', 'wan', 'netns', r, 'type', 'veth', 'peer', 'name', `p${r.slice(-2)}`, 'netns', ns.inet]);
      inNs(ns.inet, ['ip', 'link', 'set', `p${r.slice(-2)}`, 'master', 'br0']);
      inNs(ns.inet, ['ip', 'link', 'set', `p${r.slice(-2)}`, 'up']);
      inNs(r, ['ip', 'addr', 'add', `${wan}/24`, 'dev', 'wan']);
      inNs(r, ['ip', 'link', 'set', 'wan', 'up']);
      run(['link', 'add', 'lan', 'netns', r, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan]);
      inNs(r, ['ip', 'addr', 'add', `${net}.1/24`, 'dev', 'lan']);
      inNs(r, ['ip', 'link', 'set', 'lan', 'up']);
      inNs(lan, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
      inNs(lan, ['ip', 'link', 'set', 'eth0', 'up']);
      inNs(lan, ['ip', 'route', 'add', 'default', 'via', `${net}.1`]);
      inNs(r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      inNs(r, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE']);
    }
  } catch (e) {
    remove();
    throw e;
  }
  return { ns, ip, remove };
}

/** Whether `ns` reaches `host:port` over TCP within a second (bash's /dev/tcp, no extra tools). */
export function reaches(ns: string, host: string, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'timeout', '1', 'bash', '-c', `echo > /dev/tcp/${host}/${port}`], {
    stdio: 'ignore',
  });
  return r.status === 0;
}

/**
 * coturn in `inet` on the node's address, with coturn's `use-auth-secret` (the TURN REST scheme the
 * node mints credentials for). `ip netns exec` execs turnserver in place: the child's pid is coturn's.
 */
export function startTurn(
  topo: Topology,
  dir: string,
  secret: string,
  onOutput: (text: string) => void = () => undefined,
): ChildProcess {
  mkdirSync(dir, { recursive: true });
  const turn = spawn(
    'ip',
    [
      ...['netns', 'exec', topo.ns.inet, 'turnserver', '-n', `--listening-ip=${topo.ip.inet}`],
      ...[`--relay-ip=${topo.ip.inet}`, '--listening-port=3478', '--use-auth-secret'],
      ...[`--static-auth-secret=${secret}`, '--realm=vdfs.test', '--no-tls', '--no-dtls', '--no-cli'],
      ...['--fingerprint', '--log-file=stdout', '--simple-log', ...(process.env.SD_TURN_VERBOSE ? ['-v'] : [])],
      ...[`--userdb=${join(dir, 'turndb')}`, `--pidfile=${join(dir, 'pid')}`, '--min-port=49152', '--max-port=49999'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  turn.stdout!.on('data', (d: Buffer) => onOutput(d.toString()));
  turn.stderr!.on('data', (d: Buffer) => onOutput(d.toString()));
  return turn;
}
