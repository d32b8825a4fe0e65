// A first index's walk leaves regular files unstatted: their size, mtime and inode come from the
// descriptor they are hashed through. What a user would notice if that went wrong: a file that
// changed into something else between the listing and its hashing (a named pipe, a socket, a
// symlink, a folder) indexed as a file, a read that hangs on a pipe, a vanished file written with
// no size, or attributes that differ from what a later rescan reads (every file rewritten).
import test from 'ava';
import { lstatSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DIR, FILE, SEP, SPECIAL, SYMLINK, toKey, type EntryTuple } from '../../src/projections/entries.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { createHashPool } from '../../src/jobs/hash-pool.js';
import { HashAhead } from '../../src/jobs/hash-ahead.js';
import { PhaseClock } from '../../src/jobs/phase-times.js';
import { walk } from '../../src/jobs/walk.js';
import { tupleOf } from '../../src/jobs/walk-stat.js';
import type { JobContext } from '../../src/jobs/context.js';
import { tempDir } from './helpers.js';

test('unstatted files get their attributes from hashing; one that changed kind or vanished meanwhile is written as it now is, or not at all', async (t) => {
  const root = join(tempDir(t), 'loc');
  mkdirSync(join(root, 'd'), { recursive: true });
  const names = ['keep.txt', 'to-fifo', 'to-socket', 'to-link', 'to-dir', 'gone.txt', 'grown.txt'];
  for (const n of names) writeFileSync(join(root, 'd', n), `content of ${n}\n`);
  writeFileSync(join(root, 'd', 'big.bin'), Buffer.alloc(300 * 1024, 7));

  const pool = createHashPool({ threads: 2 });
  const server = createServer();
  t.teardown(async () => {
    server.close();
    await pool.close();
  });
  // The walk on a pool thread, as a first index runs it.
  const ups: EntryTuple[] = [];
  for await (const b of walk(root, {}, { remote: (r) => pool.walk(r), unstattedFiles: true }))
    for (const w of b.entries) ups.push(tupleOf(toKey(w.relPath), w));
  const files = ups.filter((u) => u[1] === FILE);
  t.is(files.length, names.length + 1);
  t.true(
    files.every((u) => Number.isNaN(u[2])),
    'the walk read no regular file attributes',
  );

  // Between the listing and the hashing, the disk changes under the walk.
  const at = (n: string): string => join(root, 'd', n);
  unlinkSync(at('to-fifo'));
  execFileSync('mkfifo', [at('to-fifo')]);
  unlinkSync(at('to-socket'));
  await new Promise<void>((r) => server.listen(at('to-socket'), r));
  unlinkSync(at('to-link'));
  symlinkSync('keep.txt', at('to-link'));
  unlinkSync(at('to-dir'));
  mkdirSync(at('to-dir'));
  unlinkSync(at('gone.txt'));
  writeFileSync(at('grown.txt'), 'grown '.repeat(1000));

  const errors: { path: string; code: string }[] = [];
  const written: EntryTuple[] = [];
  let exact = true;
  const ctx = { pool: () => pool, errors: (l: typeof errors) => errors.push(...l) } as unknown as JobContext;
  const ahead = new HashAhead<null>(ctx, root, new PhaseClock({}), (batch, _cp, ex) => {
    written.push(...batch);
    exact &&= ex;
  });
  await ahead.push(ups, null, () => undefined);
  await ahead.drain();

  const byName = new Map(written.map((u) => [u[0].slice(u[0].lastIndexOf(SEP) + 1), u]));
  t.false(byName.has('gone.txt'), 'a file that vanished is not written');
  t.deepEqual(
    errors.map((e) => [e.path, e.code]),
    [['d/gone.txt', 'ENOENT']],
  );
  t.false(exact, 'the folder totals are left to the aggregate phase');
  t.true(
    written.every((u) => !Number.isNaN(u[2]) && !Number.isNaN(u[3])),
    'nothing is written without its attributes',
  );
  t.like(byName.get('to-fifo'), { 1: SPECIAL, 2: 0, 5: 'fifo', 6: undefined });
  t.like(byName.get('to-socket'), { 1: SPECIAL, 2: 0, 5: 'socket', 6: undefined });
  t.like(byName.get('to-link'), { 1: SYMLINK, 5: 'symlink', 6: undefined });
  t.like(byName.get('to-dir'), { 1: DIR, 2: 0, 5: 'folder', 6: undefined });
  // Files as lstat sees them now, with the content id of what is there now.
  for (const n of ['keep.txt', 'grown.txt', 'big.bin']) {
    const st = lstatSync(at(n), { bigint: true });
    t.like(
      byName.get(n),
      {
        1: FILE,
        2: Number(st.size),
        3: Math.floor(Number(st.mtimeNs) / 1e6),
        4: Number(st.ino),
        6: await contentIdOf(at(n)),
      },
      n,
    );
  }
  rmSync(at('to-fifo'));
});
