// Sync across NATs, on the topology of test/sync/nat.test.ts (test/support/netns.ts): laptop A behind
// router r1, laptop B behind r2, the always-on node, coturn and laptop C in `inet`, and laptop L on
// A's LAN. Each device is a real Core in its namespace (bench/nat-child.ts). Root only.
//
// 1. Time from a device's start to its first sync with A through each path: the node's feed relay
//    (B, coturn down), a direct WebRTC link (C), the TURN relay (B, coturn up), and the LAN
//    WebSocket link (L) as the peer figure.
// 2. Replication of a 100,000-entry index written on A through the real log, over each path alone
//    (the node cut off except when it is the path), timed until the receiver holds every entry. The
//    LAN WebSocket link is the peer figure; the goal is TURN at 50% of direct or more.
//
//   sudo node dist/bench/nat.js            (N_ENTRIES=100000 by default)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { ChildClient } from './child-rpc.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTopology, netnsUnavailable, startTurn, type Topology } from '../test/support/netns.js';
import { until as waitFor } from '../test/support/until.js';

const N = Number(process.env.N_ENTRIES ?? 100_000);
const SECRET = 'nat-bench-secret-0123456789';
const CHILD = new URL('./nat-child.js', import.meta.url).pathname;

class Device extends ChildClient {
  id = '';
  port = 0;

  constructor(
    name: string,
    readonly ns: string,
    readonly ip: string,
    readonly dir: string,
  ) {
    super(
      name,
      spawn('ip', ['netns', 'exec', ns, process.execPath, CHILD], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, SD_DIRECT_PROBE_MS: '3000' },
      }),
    );
  }

  async open(ice?: { servers: string; secret?: string; share?: boolean }): Promise<void> {
    const v = await this.call<{ id: string; port: number }>('open', {
      dir: this.dir,
      name: this.name,
      ip: this.ip,
      ice,
      // L is the LAN peer figure: a WebSocket link, as between two devices without WebRTC.
      webrtc: this.name === 'l' ? 'off' : 'auto',
    });
    this.id = v.id;
    this.port = v.port;
  }

  async path(other: Device): Promise<string | null> {
    const v = await this.call<{ online: boolean; path: string | null }>('path', { dev: other.id });
    return v.online ? v.path : null;
  }
}

const WAIT_MS = Number(process.env.WAIT_MS ?? 180_000);
const until = (what: string, cond: () => Promise<boolean>, ms = WAIT_MS): Promise<void> => waitFor(what, cond, ms);

const load = (): string => loadavg()[0]!.toFixed(1);

async function main(): Promise<void> {
  const why = netnsUnavailable() ?? (spawnSync('which', ['turnserver']).status === 0 ? undefined : 'no turnserver');
  if (why) {
    console.log(`bench nat skipped: ${why}`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'sd-natbench-'));
  const topo: Topology = buildTopology();
  const procs: ChildProcess[] = [];
  let turn: ChildProcess | undefined;
  try {
    // L shares A's LAN.
    spawnSync('ip', ['netns', 'exec', topo.ns.a, 'ip', 'addr', 'add', '10.1.0.3/24', 'dev', 'eth0']);
    const dev = (name: string, ns: string, ip: string): Device => {
      const d = new Device(name, ns, ip, join(root, name));
      procs.push(d.proc);
      return d;
    };
    const node = dev('node', topo.ns.inet, topo.ip.inet);
    const a = dev('a', topo.ns.a, topo.ip.a);
    const b = dev('b', topo.ns.b, topo.ip.b);
    const c = dev('c', topo.ns.inet, topo.ip.inet2);
    const l = dev('l', topo.ns.a, '10.1.0.3');
    const turnUrls = `turn:${topo.ip.inet}:3478,stun:${topo.ip.inet}:3478`;
    await node.open({ servers: turnUrls, secret: SECRET, share: true });
    for (const d of [a, b, c, l]) {
      await d.open();
      await d.call('join', { code: (await node.call<{ code: string }>('invite')).code });
    }
    await l.call('dial', { address: `${topo.ip.a}:${a.port}` });
    const everyone = [node, a, b, c, l];
    const heads = async (d: Device): Promise<string> => (await d.call<{ heads: string }>('heads')).heads;
    const caughtUp = async (ds: Device[]): Promise<void> =>
      until('caught up', async () => (await Promise.all(ds.map(heads))).every((h, _, all) => h === all[0]));

    // 1. From start to the first sync with A, per path.
    const firstSync = async (label: string, rx: Device, wantPath: RegExp, others: Device[]): Promise<string> => {
      for (const d of others) await d.call('close');
      await rx.call('close');
      const tag = `first-${rx.name}-${Date.now()}`;
      await a.call('tag', { name: tag });
      const t0 = performance.now();
      await rx.open();
      await until(
        `${label}: the tag on ${rx.name}`,
        async () => (await rx.call<{ has: boolean }>('hasTag', { name: tag })).has,
      );
      const synced = performance.now() - t0;
      let path: string | null = null;
      // NAT_VERBOSE=1: how the receiver's actor for A stands, every second, while the path is awaited.
      let shown = 0;
      const show = async (): Promise<void> => {
        if (!process.env.NAT_VERBOSE || performance.now() - shown < 1000) return;
        shown = performance.now();
        const st = await rx.call('actor', { dev: a.id });
        console.log(`    ${label} +${(shown - t0).toFixed(0)} ms: ${rx.name} for A ${JSON.stringify(st)}`);
      };
      await until(`${label}: the path`, async () => {
        await show();
        return wantPath.test((path = await rx.path(a)) ?? 'none');
      }).catch((e) => {
        throw new Error(`${(e as Error).message} (${rx.name} to A: ${path})`);
      });
      const linked = performance.now() - t0;
      for (const d of others) await d.open();
      return `${label.padEnd(22)} first event from A after ${synced.toFixed(0).padStart(6)} ms; path ${path} after ${linked.toFixed(0)} ms (load ${load()})`;
    };
    const lines: string[] = [];
    lines.push(await firstSync('LAN WebSocket (peer)', l, /^lan-ws$/, []));
    lines.push(await firstSync('node relay', b, /^none$/, [c, l]));
    turn = startTurn(topo, join(root, 'turn'), SECRET);
    procs.push(turn);
    lines.push(await firstSync('TURN relay', b, /^webrtc-relay$/, [c, l]));
    lines.push(await firstSync('direct', c, /^(webrtc-direct|lan-ws)/, [b, l]));
    console.log(`time from start to first sync (${N} entries below):`);
    for (const x of lines) console.log(`  ${x}`);

    // 2. Replication of N entries over one path: only A, the receiver and (when it is the path) the node.
    await caughtUp(everyone);
    const replicate = async (label: string, rx: Device, wantPath: RegExp, viaNode: boolean): Promise<number> => {
      const off = everyone.filter((d) => d !== a && d !== rx && d !== node);
      for (const d of off) await d.call('close');
      let path: string | null = null;
      await until(`${label}: the path`, async () => wantPath.test((path = await rx.path(a)) ?? 'none'));
      // Through the node: both ends linked to it (A behind its NAT redials the node after its backoff).
      if (viaNode)
        for (const d of [a, rx]) await until(`${d.name} linked to the node`, async () => (await d.path(node)) !== null);
      else await node.call('partition');
      const t0 = performance.now();
      const fill = await a.call<{ loc: string; entries: number; ms: number }>('fill', { n: N });
      // Through the node: when the node held them all, too.
      let nodeMs: number | undefined;
      const complete = async (d: Device): Promise<boolean> =>
        (await d.call<{ n: number }>('count', { loc: fill.loc })).n === fill.entries;
      await until(
        `${label}: ${fill.entries} entries on ${rx.name}`,
        async () => {
          if (viaNode && nodeMs === undefined && (await complete(node))) nodeMs = performance.now() - t0;
          return complete(rx);
        },
        600_000,
      );
      const ms = performance.now() - t0;
      const hop = nodeMs === undefined ? '' : `, on the node after ${nodeMs.toFixed(0)} ms`;
      const rate = Math.round((fill.entries / ms) * 1000);
      console.log(
        `  ${label.padEnd(22)} ${fill.entries} entries in ${ms.toFixed(0)} ms = ${rate} entries/s (path ${path ?? 'through the node'}${hop}; writing them on A took ${fill.ms.toFixed(0)} ms; load ${load()})`,
      );
      if (!viaNode) await node.call('heal');
      for (const d of off) await d.open();
      await caughtUp(everyone);
      return rate;
    };
    console.log(`replication of ${N} entries written on A through the log:`);
    const lan = await replicate('LAN WebSocket (peer)', l, /^lan-ws$/, false);
    const direct = await replicate('direct', c, /^(webrtc-direct|lan-ws)/, false);
    const relayed = await replicate('TURN relay', b, /^webrtc-relay$/, false);
    turn.kill('SIGKILL');
    await b.call('close');
    await b.open();
    const viaNode = await replicate('node relay', b, /^none$/, true);
    console.log(
      `ratios: direct ${(direct / lan).toFixed(2)}x, TURN ${(relayed / lan).toFixed(2)}x, node relay ${(viaNode / lan).toFixed(2)}x of the LAN WebSocket link; TURN is ${((relayed / direct) * 100).toFixed(0)}% of direct (goal >= 50%)`,
    );
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    topo.remove();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
