import test from 'ava';
import { rmSync, closeSync, openSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { walk, walkAll } from '../../src/jobs/walk.js';
import { smallTree, tempDir } from './helpers.js';

test('the order is deterministic: depth-first, sorted siblings, folder before its contents', async (t) => {
  const m = smallTree(t);
  const a = (await walkAll(m.root)).entries.map((e) => e.relPath);
  const b = (await walkAll(m.root, {}, { batchSize: 7 })).entries.map((e) => e.relPath);
  t.deepEqual(a, b);
  const index = new Map(a.map((p, i) => [p, i]));
  for (const p of a) {
    const slash = p.lastIndexOf('/');
    if (slash > 0) t.true(index.get(p.slice(0, slash))! < index.get(p)!, p);
  }
});

test('resuming from any cursor yields exactly the remainder', async (t) => {
  const m = smallTree(t);
  const all = (await walkAll(m.root)).entries.map((e) => e.relPath);
  t.true(all.length > 500);
  // First, last, every folder and a spread of files.
  const picks = new Set<number>([0, all.length - 1, all.length - 2]);
  for (let i = 0; i < all.length; i += 37) picks.add(i);
  const dirs = (await walkAll(m.root)).entries.flatMap((e, i) => (e.isDir ? [i] : []));
  for (const i of dirs) picks.add(i);
  for (const i of picks) {
    const rest = (await walkAll(m.root, {}, { startAfter: all[i]! })).entries.map((e) => e.relPath);
    t.deepEqual(rest, all.slice(i + 1), `after ${all[i]}`);
  }
});

test('a batch cursor resumes a walk interrupted mid-way, even if the cursor entry was deleted', async (t) => {
  const m = smallTree(t, { extras: false, sparseFiles: 0 });
  const all = (await walkAll(m.root)).entries.map((e) => e.relPath);
  const seen: string[] = [];
  let cursor: string | undefined;
  let n = 0;
  for await (const b of walk(m.root, {}, { batchSize: 50 })) {
    seen.push(...b.entries.map((e) => e.relPath));
    cursor = b.cursor;
    if (++n === 3) break; // the job stops here; its checkpoint holds `cursor`
  }
  t.is(cursor, seen[seen.length - 1]);
  rmSync(join(m.root, cursor!), { recursive: true });
  const rest = (await walkAll(m.root, {}, { startAfter: cursor! })).entries.map((e) => e.relPath);
  t.deepEqual(
    [...seen, ...rest],
    all.filter((p) => !p.startsWith(`${cursor}/`)),
  );
});

test('100,000 files in one folder are walked in sorted order', async (t) => {
  const dir = tempDir(t);
  const big = join(dir, 'big');
  mkdirSync(big);
  for (let i = 0; i < 100_000; i++) closeSync(openSync(join(big, `f${i}`), 'w'));
  const t0 = performance.now();
  const { entries, errors } = await walkAll(dir);
  t.log(`walked ${entries.length} entries in ${Math.round(performance.now() - t0)} ms`);
  t.deepEqual(errors, []);
  t.is(entries.length, 100_001);
  const names = entries.slice(1).map((e) => e.name);
  t.deepEqual(names, [...names].sort());
});
