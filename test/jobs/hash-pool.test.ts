import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHashPool, type HashPath } from '../../src/jobs/hash-pool.js';
import { contentIdOf, createContentHasher } from '../../src/jobs/content-id.js';
import { walkAll } from '../../src/jobs/walk.js';
import { fsPathOf } from '../../src/jobs/names.js';
import { smallTree, tempDir } from './helpers.js';

test('the pool hashes a generated tree exactly like a single thread, in input order', async (t) => {
  const m = smallTree(t, { files: 1500, folders: 60, seed: 3 });
  const { entries } = await walkAll(m.root, { skipHidden: false, skipNames: [] });
  const paths: HashPath[] = entries
    .filter((e) => !e.isDir && !e.isSymlink && !e.relPath.startsWith('locked'))
    .map((e) => fsPathOf(m.root, e.relPath));
  t.true(paths.length > 1500);
  t.true(
    paths.some((p) => Buffer.isBuffer(p)),
    'non-UTF-8 paths go through as bytes',
  );
  const pool = createHashPool({ threads: 2, batchSize: 50 });
  t.teardown(() => pool.close());
  const got = await pool.hash(paths);
  const h = await createContentHasher();
  t.is(got.length, paths.length);
  let dupes = 0;
  const seen = new Set<string>();
  for (let i = 0; i < paths.length; i++) {
    const r = got[i]!;
    t.is(r.path, paths[i]);
    if ('error' in r) {
      t.fail(`${String(r.path)}: ${r.error.code}`);
      continue;
    }
    const one = h.identify(paths[i]!);
    t.is(r.contentId, one.contentId);
    t.is(r.size, one.size);
    if (seen.has(r.contentId)) dupes++;
    seen.add(r.contentId);
  }
  t.true(dupes >= m.duplicates, 'generated duplicates share ids');
});

test('per-file failures come back as values and do not fail the batch; a FIFO is refused, never read', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'adir'));
  execFileSync('mkfifo', [join(dir, 'pipe')]);
  symlinkSync(join(dir, 'pipe'), join(dir, 'link'));
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const [missing, folder, pipe, link] = await pool.hash([
    join(dir, 'missing'),
    join(dir, 'adir'),
    join(dir, 'pipe'),
    join(dir, 'link'),
  ]);
  t.true(missing !== undefined && 'error' in missing && missing.error.code === 'ENOENT');
  t.true(folder !== undefined && 'error' in folder && folder.error.code === 'E_NOT_A_FILE');
  t.true(pipe !== undefined && 'error' in pipe && pipe.error.code === 'E_NOT_A_FILE', 'opened without blocking');
  t.true(link !== undefined && 'error' in link && link.error.code === 'ELOOP', 'a symlink is not followed');
});

test('concurrent hash calls share the pool; a closed pool refuses work', async (t) => {
  const m = smallTree(t, { files: 300, folders: 10, seed: 5, extras: false, sparseFiles: 0 });
  const { entries } = await walkAll(m.root);
  const files = entries.filter((e) => !e.isDir).map((e) => fsPathOf(m.root, e.relPath));
  const pool = createHashPool({ threads: 2, batchSize: 16 });
  t.teardown(() => pool.close());
  t.true(pool.threads === 2);
  const [a, b] = await Promise.all([pool.hash(files), pool.hash([...files].reverse())]);
  t.deepEqual(
    a.map((r) => ('contentId' in r ? r.contentId : '')),
    b.reverse().map((r) => ('contentId' in r ? r.contentId : '')),
  );
  t.is((await pool.hash([])).length, 0);
  await pool.close();
  await t.throwsAsync(() => pool.hash(files), { code: 'E_POOL_CLOSED' } as never);
});

test('failures between files keep every result in its place, across batches', async (t) => {
  const dir = tempDir(t);
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 7)]);
  writeFileSync(join(dir, 'a.png'), png);
  writeFileSync(join(dir, 'b.txt'), 'hello\n');
  writeFileSync(join(dir, 'c.bin'), Buffer.alloc(200_000, 3));
  execFileSync('mkfifo', [join(dir, 'pipe')]);
  const paths = ['a.png', 'missing', 'b.txt', 'pipe', 'c.bin', 'gone'].map((n) => join(dir, n));
  const pool = createHashPool({ threads: 2, batchSize: 2 });
  t.teardown(() => pool.close());
  const results = await pool.hash(paths);
  t.deepEqual(
    results.map((r) => ('error' in r ? r.error.code : `${r.size} ${r.kind}`)),
    ['108 image', 'ENOENT', '6 text', 'E_NOT_A_FILE', '200000 other', 'ENOENT'],
  );
  for (const r of results) if (!('error' in r)) t.is(r.contentId, await contentIdOf(r.path), String(r.path));
  t.deepEqual(
    results.map((r) => r.path),
    paths,
  );
});

test('closing pools while their threads load never aborts the process', async (t) => {
  // A thread terminated while koffi registers itself aborted the whole process (SIGABRT, a fatal
  // error in the add-on's start-up). Pools that close at once (endMs 0), at random moments of
  // their threads' load: before the mend, 7 of 10 processes of 30 closes each aborted.
  const pool = new URL('../../src/jobs/hash-pool.js', import.meta.url).href;
  const script = `
    const { createHashPool } = await import(${JSON.stringify(pool)});
    for (let i = 0; i < 80; i++) {
      const p = createHashPool({ threads: 2, endMs: 0 });
      await new Promise((r) => setTimeout(r, 40 + Math.random() * 120));
      await p.close();
    }
    const p = createHashPool({ threads: 1, endMs: 0 });
    await p.close();
    console.log('closed 81 pools');`;
  // A file, not `node -e`: the workers of `-e` inherit `--input-type` and did not abort before the mend.
  const file = join(tempDir(t), 'close-pools.mjs');
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
  t.is(r.signal, null, r.stderr.slice(0, 300));
  t.is(r.status, 0, r.stderr.slice(0, 300));
  t.is(r.stdout.trim(), 'closed 81 pools');
});
