// Issue-5 bench: per-peer memory overhead. Core A runs alone in a child process (the daemon under
// test); this process pairs 1, then 2, 4 and 8 other cores with it over loopback and asks A for
// its RSS (after a GC and a quiet second) with each number of live, idle peer links.
// Usage: node --expose-gc dist/bench/peers-memory.js
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../src/core.js';

process.env.SD_MDNS = 'off';
process.env.SD_P2P_HOST = '127.0.0.1';

type Msg = { op: 'invite' } | { op: 'rss' } | { op: 'links' } | { op: 'stop' };

async function child(dataDir: string): Promise<void> {
  const a = await Core.open(dataDir, { services: false });
  const peers = await a.startPeers('127.0.0.1', 0);
  process.on('message', (m: Msg) => {
    void (async () => {
      if (m.op === 'invite')
        process.send!({ code: (await a.command<{ code: string }>('pair.invite', { host: '127.0.0.1' })).result!.code });
      else if (m.op === 'links') process.send!({ links: peers.status().peers.filter((p) => p.link !== null).length });
      else if (m.op === 'rss') {
        global.gc?.();
        await new Promise((r) => setTimeout(r, 1000));
        global.gc?.();
        process.send!({ rss: process.memoryUsage().rss });
      } else {
        await a.close();
        process.exit(0);
      }
    })();
  });
  process.send!({ ready: true });
}

function ask<T>(c: ChildProcess, m: Msg): Promise<T> {
  return new Promise((resolve) => {
    c.once('message', (r) => resolve(r as T));
    c.send(m);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-peermem-'));
  const c = fork(fileURLToPath(import.meta.url), ['child', join(dir, 'a')], { execArgv: ['--expose-gc'] });
  const others: Core[] = [];
  try {
    await new Promise((r) => c.once('message', r));
    const rss: Record<number, number> = { 0: (await ask<{ rss: number }>(c, { op: 'rss' })).rss };
    for (const n of [1, 2, 4, 8]) {
      while (others.length < n) {
        const b = await Core.open(join(dir, `p${others.length}`), { services: false });
        await b.startPeers('127.0.0.1', 0);
        const { code } = await ask<{ code: string }>(c, { op: 'invite' });
        await b.command('pair.join', { code });
        others.push(b);
      }
      const end = Date.now() + 30_000;
      // Bounded: 30 s for the links to settle.
      while ((await ask<{ links: number }>(c, { op: 'links' })).links < n) {
        if (Date.now() > end) throw new Error(`A has fewer than ${n} links after 30 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1000)); // initial syncs settle
      rss[n] = (await ask<{ rss: number }>(c, { op: 'rss' })).rss;
    }
    const mb = (x: number): string => (x / 2 ** 20).toFixed(1);
    console.log('RSS of core A (own process) by number of paired, linked, idle peers:');
    for (const [n, v] of Object.entries(rss)) console.log(`  ${n.padStart(2)} peers: ${mb(v)} MB`);
    console.log(
      `first peer: +${mb(rss[1]! - rss[0]!)} MB (A created its library in this run, so its shared documents were already open)`,
    );
    console.log(`each further peer (1 -> 8): +${mb((rss[8]! - rss[1]!) / 7)} MB per peer (target <= 20 MB)`);
  } finally {
    c.send({ op: 'stop' });
    await new Promise((r) => setTimeout(r, 500));
    if (c.exitCode === null) c.kill('SIGKILL');
    for (const b of others) await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!);
else await main();
