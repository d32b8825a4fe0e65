// Issue-4 benches on a library of N generated entries (default 1,000,000): name substring search
// (10-result page) p50/p99 against the same query on a plain SQLite table, `ls` of a 10,000-entry
// folder, tagging 10,000 files in one command, and RSS with the library open and idle. The library
// is written only through the signed log (events appended and projected by the Core), never by
// writing the projection's tables.
import Database from 'better-sqlite3-multiple-ciphers';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core.js';
import { SEP, type EntryTuple } from '../src/projections/entries.js';
import { makeRng } from '../fixtures/tree.js';
import { newLocationId } from '../src/projections/rules.js';

const N = Number(process.env.N_ENTRIES ?? 1_000_000);
const WORDS = [
  'holiday',
  'report',
  'invoice',
  'photo',
  'beach',
  'draft',
  'final',
  'notes',
  'budget',
  'scan',
  'music',
  'video',
  'paper',
  'thesis',
  'recipe',
  'garden',
];
const EXTS = ['jpg', 'png', 'pdf', 'txt', 'md', 'mp3', 'mp4', 'docx', 'zip', 'ts'];

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-search-'));
  const root = join(dir, 'tree');
  mkdirSync(root);
  try {
    const core = await Core.open(join(dir, 'data'), { services: false });
    const lib = core.libraries.resolve();
    const loc = newLocationId(core.device.id);
    lib.write(() => lib.append('location.added', { id: loc, path: root, name: 'bench', watch: false, rules: {} }));
    const rng = makeRng(7);
    const names: string[] = [];
    let t0 = performance.now();
    // Folder "big" holds 10,000 files; the rest spread over 1,000 folders.
    const folders = ['big', ...Array.from({ length: 999 }, (_, i) => `d${i}`)];
    const batch: EntryTuple[] = folders.map((f) => [f, 1, 0, 0, 0, 'folder']);
    const flush = (): void => {
      const e = batch.splice(0);
      lib.write(() => {
        for (let i = 0; i < e.length; i += 1000) lib.append('entries.upserted', { loc, e: e.slice(i, i + 1000) });
      });
    };
    for (let i = 0; i < N; i++) {
      const w = `${WORDS[Math.floor(rng() * WORDS.length)]}-${WORDS[Math.floor(rng() * WORDS.length)]}-${i}.${EXTS[i % EXTS.length]}`;
      names.push(w);
      const folder = i < 10_000 ? 'big' : folders[1 + (i % 999)]!;
      const size = Math.floor(rng() * 5e6);
      // the files of "big" are empty, so the content ids below (of empty files) match their size
      batch.push([`${folder}${SEP}${w}`, 0, i < 10_000 ? 0 : size, 1.7e12 + i, i + 10, 'other']);
      if (batch.length >= 50_000) flush();
    }
    flush();
    const loadMs = performance.now() - t0;
    console.log(
      `loaded ${N} entries (${N / 1000} events of 1,000) in ${(loadMs / 1000).toFixed(1)} s: ${Math.round(N / (loadMs / 1000))} entries/s`,
    );
    t0 = performance.now();
    lib.flushSearchIndex();
    console.log(
      `built the trigram name index in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${Math.round(N / ((performance.now() - t0) / 1000))} names/s`,
    );
    // content ids for the 10,000 files of "big", so they can be tagged
    lib.write(() => {
      for (let i = 0; i < 10_000; i += 1000) {
        const ids = names
          .slice(i, i + 1000)
          .map(
            (n, j) =>
              [`big${SEP}${n}`, (i + j).toString(16).padStart(32, '0'), 'other', 0] as [string, string, string, number],
          );
        lib.append('entries.identified', { loc, ids });
      }
    });

    // peer: a plain SQLite table of the same names, LIKE '%q%' LIMIT 10
    const plain = new Database(join(dir, 'plain.db'));
    plain.exec('CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT)');
    const ins = plain.prepare('INSERT INTO names (name) VALUES (?)');
    plain.transaction(() => names.forEach((n) => ins.run(n)))();
    const queries = Array.from({ length: 200 }, (_, i) => {
      const n = names[Math.floor(makeRng(i)() * names.length)]!;
      const at = Math.floor(makeRng(i + 1)() * (n.length - 5));
      return i % 4 === 0 ? WORDS[i % WORDS.length]!.slice(1, 5) : n.slice(at, at + 5 + (i % 4));
    });
    const ours: number[] = [];
    const peer: number[] = [];
    const like = plain.prepare('SELECT id, name FROM names WHERE name LIKE ? LIMIT 10');
    let found = 0;
    for (const q of queries) {
      t0 = performance.now();
      const r = await core.query<unknown[]>('search', { query: q, limit: 10 });
      ours.push(performance.now() - t0);
      t0 = performance.now();
      const p = like.all(`%${q}%`);
      peer.push(performance.now() - t0);
      found += r.length;
      if (r.length !== Math.min(10, p.length) && p.length < 10)
        throw new Error(`search "${q}" found ${r.length}, the peer ${p.length}`);
    }
    console.log(`${queries.length} queries, ${found} results`);
    console.log(`${'bench'.padEnd(40)} ${'vdfs'.padStart(16)} ${'peer'.padStart(26)} ${'ratio'.padStart(7)}`);
    const row = (n: string, a: number, b: number, peerName: string): void =>
      console.log(
        `${n.padEnd(40)} ${`${a.toFixed(2)} ms`.padStart(16)} ${`${b.toFixed(2)} ms ${peerName}`.padStart(26)} ${`${(a / b).toFixed(2)}x`.padStart(7)}`,
      );
    row('search p50 (10 results)', pct(ours, 0.5), pct(peer, 0.5), 'LIKE');
    row('search p99', pct(ours, 0.99), pct(peer, 0.99), 'LIKE');
    const lsTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      t0 = performance.now();
      const r = await core.query<{ entries: unknown[] }>('entry.ls', { path: join(root, 'big') });
      lsTimes.push(performance.now() - t0);
      if (r.entries.length !== 10_000) throw new Error(`ls returned ${r.entries.length}`);
    }
    // The peer as ours: prepared once, p50 of 10 runs (it was one cold run, preparation included).
    const peerLs = plain.prepare('SELECT * FROM names WHERE id <= 10000 ORDER BY name');
    const peerTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      t0 = performance.now();
      peerLs.all();
      peerTimes.push(performance.now() - t0);
    }
    row('ls of a 10,000-entry folder (p50)', pct(lsTimes, 0.5), pct(peerTimes, 0.5), 'SELECT');
    await core.command('tag.create', { name: 'bench' });
    t0 = performance.now();
    const tagged = await core.command<{ changed: number }>('tag.apply', {
      tag: 'bench',
      paths: [join(root, 'big')],
      recursive: true,
    });
    const tagMs = performance.now() - t0;
    console.log(
      `tag 10,000 files in one command: ${tagMs.toFixed(0)} ms (${tagged.result?.changed} content items, verify ${tagged.verify?.ok ? 'ok' : 'FAILED'})`,
    );
    plain.close();
    await core.close();
    // RSS of a fresh process holding the library open and idle (this one also holds the bench's data).
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', fileURLToPath(new URL('./rss-child.js', import.meta.url)), join(dir, 'data'), join(root, 'big')],
      { encoding: 'utf8' },
    );
    const rss = child.status === 0 ? (JSON.parse(child.stdout.trim()) as { rssMB: number }).rssMB : NaN;
    console.log(
      `RSS of a process with the ${N}-entry library open and idle: ${rss} MB (target 150 MB)${child.status === 0 ? '' : ` (child failed: ${child.stderr.slice(0, 200)})`}`,
    );
  } finally {
    // SD_BENCH_KEEP=1 keeps the generated library for profiling (data dir printed).
    if (process.env.SD_BENCH_KEEP === '1') console.log(`kept ${join(dir, 'data')} (tree ${root})`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
