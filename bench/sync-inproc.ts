// The vdfs side of bench/syncthing.ts with both cores in this process (VDFS_INPROC=1): one thread
// for both, warm (A indexed here). Counts every byte this process writes to TCP sockets (both
// cores live here, so both directions).
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core.js';

let wireBytes = 0;
const socketWrite = Socket.prototype.write as (this: Socket, ...args: unknown[]) => boolean;
Socket.prototype.write = function (this: Socket, ...args: unknown[]): boolean {
  const chunk = args[0];
  wireBytes +=
    typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0;
  return socketWrite.apply(this, args);
} as typeof Socket.prototype.write;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number, every: number): Promise<void> {
  // Bounded by `ms`.
  for (const end = Date.now() + ms; !(await cond()); await new Promise((r) => setTimeout(r, every)))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** vdfs: ms for B to replicate A's index of `root`, how many entries B then holds, bytes on the wire. */
export async function vdfsIndexExchange(
  root: string,
  pairing: 'inside' | 'outside',
  pollMs: number,
): Promise<{ ms: number; cpuMs: number; entries: number; events: number; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-vs-st-'));
  const a = await Core.open(join(dir, 'a'));
  const b = await Core.open(join(dir, 'b'));
  try {
    await a.startPeers('127.0.0.1', 0);
    await b.startPeers('127.0.0.1', 0);
    const lib = a.libraries.resolve();
    const heads = (c: Core): string => JSON.stringify([...c.libraries.resolve(lib.id).log.heads()].sort());
    const pair = async (): Promise<void> => {
      const inv = await a.command<{ code: string }>('pair.invite', {});
      await b.command('pair.join', { code: inv.result!.code });
    };
    if (pairing === 'outside') {
      await pair();
      await until('B joined', () => heads(a) === heads(b), 60_000, pollMs);
      a.peers!.partition();
      b.peers!.partition();
    }
    const added = await a.command<{ job: string }>('location.add', { path: root, watch: false });
    await until(
      'the index on A',
      async () => {
        const j = await a.query<{ state: string }>('job.info', { ref: added.result!.job });
        return ['completed', 'failed', 'cancelled'].includes(j.state);
      },
      600_000,
      50,
    );
    lib.flush();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    wireBytes = 0;
    if (pairing === 'outside') {
      a.peers!.heal();
      b.peers!.heal();
    } else await pair();
    await until('B caught up', () => heads(a) === heads(b), 600_000, pollMs);
    const ms = performance.now() - t0;
    const c = process.cpuUsage(cpu0);
    const cpuMs = (c.user + c.system) / 1000;
    const bytes = wireBytes;
    const lb = b.libraries.resolve(lib.id);
    const entries = (lb.db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
    const events = (lb.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    return { ms, cpuMs, entries, events, bytes };
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
