// The vdfs side of bench/syncthing.ts with each device in its own process (bench/sync-child.ts), as
// Syncthing's two devices are: the two cores no longer share one thread. Also the CPU time a
// process spent (from /proc, clock ticks), so the bench can compare CPU as well as wall time.
import { spawn } from 'node:child_process';
import { ChildClient } from './child-rpc.js';
import { DAEMON_NODE_FLAGS } from '../src/daemon/node-flags.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHILD = new URL('./sync-child.js', import.meta.url).pathname;

/** [ppid, user + system CPU ms] of a process (10 ms resolution), or undefined when /proc cannot say. */
function statOf(pid: number | string): [number, number] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [Number(f[1]), (Number(f[11]) + Number(f[12])) * 10]; // ppid; utime, stime at 100 Hz
  } catch {
    return undefined;
  }
}

/** CPU ms a process and its children (Syncthing's monitor runs the real one as a child) spent so far. */
export function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  let ms = statOf(pid)?.[1] ?? NaN;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const s = statOf(p);
    if (s && s[0] === pid) ms += s[1];
  }
  return ms;
}

class Device extends ChildClient {
  constructor(name: string) {
    // Each device runs with the daemon's V8 flags, as `sd start` runs it (one GC thread: the
    // collector's helper threads took a core from the other device). CHILD_NODE_ARGS: more node
    // options (e.g. --cpu-prof --cpu-prof-dir=DIR to profile them).
    const args = (process.env.CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    super(
      name,
      spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...args, CHILD], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
  }

  cpuMs(): number {
    return cpuMsOf(this.proc.pid);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    await this.call('close').catch(() => undefined);
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

export interface Exchange {
  ms: number;
  entries: number;
  events: number;
  bytes: number;
  /** CPU ms both processes spent in the window. */
  cpuMs: number;
}

/** ms for B to replicate A's index of `root`, with A and B in two processes. */
export async function vdfsExchangeProcs(
  root: string,
  pairing: 'inside' | 'outside',
  pollMs: number,
): Promise<Exchange> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-vs-st-'));
  const a = new Device('A');
  const b = new Device('B');
  try {
    await a.call('open', { dir: join(dir, 'a') });
    await b.call('open', { dir: join(dir, 'b') });
    const pair = async (): Promise<void> => {
      const { code } = await a.call<{ code: string }>('invite');
      await b.call('join', { code });
    };
    const heads = async (d: Device): Promise<string> => (await d.call<{ heads: string }>('heads')).heads;
    // Both polled, as the in-process bench compared both: A may still append (the end of its job).
    const level = async (): Promise<void> => {
      // Bounded: 2 minutes of polls.
      for (let end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, pollMs))) {
        const [ha, hb] = await Promise.all([heads(a), heads(b)]);
        if (ha === hb) return;
      }
      throw new Error(`B did not catch up in 2 minutes: A ${await heads(a)}, B ${await heads(b)}`);
    };
    if (pairing === 'outside') {
      await pair();
      await level();
      await a.call('partition');
      await b.call('partition');
    }
    await a.call('index', { root });
    await a.call('wire', { reset: true });
    await b.call('wire', { reset: true });
    if (process.env.CHILD_NODE_ARGS) console.log(`window starts at B ${(await b.call<{ us: string }>('mark')).us} us`);
    const cpu0 = a.cpuMs() + b.cpuMs();
    const t0 = performance.now();
    if (pairing === 'outside') await Promise.all([a.call('heal'), b.call('heal')]);
    else await pair();
    await level();
    const ms = performance.now() - t0;
    const cpuMs = a.cpuMs() + b.cpuMs() - cpu0;
    const bytes = (await a.call<{ bytes: number }>('wire')).bytes + (await b.call<{ bytes: number }>('wire')).bytes;
    const counts = await b.call<{ entries: number; events: number }>('counts');
    return { ms, cpuMs, bytes, ...counts };
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
