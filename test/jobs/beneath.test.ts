// Hashing a location's files by key below its root (beneath.ts, HashPool.hashKeys): a folder
// swapped for a symlink after the walk is never followed, so a file outside the location is never
// read under an inside name; everything else hashes exactly as by path.
import test from 'ava';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHashPool } from '../../src/jobs/hash-pool.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { beneath } from '../../src/jobs/beneath.js';
import { encodeName, fsPathOf } from '../../src/jobs/names.js';
import { toKey } from '../../src/projections/entries.js';
import { tempDir } from './helpers.js';

const SYMLINK_FLAG = 8;

test('this Linux machine opens below a root with openat2 (the tests below exercise it)', (t) => {
  // Linux 5.6+ with koffi: the hashing threads then never follow a symlink below a location.
  t.truthy(beneath(), 'openat2 is callable here');
});

test('a folder swapped for a symlink after the walk: its files are refused, never read from where it points', async (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside', 'd');
  mkdirSync(join(root, 'd'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  // Same names and sizes inside and outside, different bytes: only the content id tells them apart.
  writeFileSync(join(root, 'd', 'f.txt'), 'inside!');
  writeFileSync(join(outside, 'f.txt'), 'SECRET!');
  writeFileSync(join(root, 'top.txt'), 'top');
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const keys = [toKey('d/f.txt'), toKey('top.txt')];

  const before = await pool.hashKeys(root, keys, true);
  t.is((before.results[0] as { contentId: string }).contentId, await contentIdOf(join(root, 'd', 'f.txt')));
  t.is((before.results[1] as { contentId: string }).contentId, await contentIdOf(join(root, 'top.txt')));
  t.is(before.stats!.errors.length, 0);

  renameSync(join(root, 'd'), join(root, 'd.real'));
  symlinkSync(outside, join(root, 'd'));
  const secret = await contentIdOf(join(outside, 'f.txt'));
  // By path, the same call reads the file outside (what a first index used to do).
  const byPath = await pool.hash([fsPathOf(root, 'd/f.txt')]);
  t.is((byPath[0] as { contentId: string }).contentId, secret, 'the swap really leads outside');

  const after = await pool.hashKeys(root, keys, true);
  const r = after.results[0]!;
  t.true('error' in r, 'the file below the swapped folder is not hashed');
  t.is('error' in r ? r.error.code : '', 'E_PATH_CHANGED');
  t.not('contentId' in r ? r.contentId : '', secret);
  // Its attributes are not read from outside either: its lstat refuses the folder by name.
  t.deepEqual(
    after.stats!.errors.map(([i, code]) => [i, code]),
    [[0, 'E_PATH_CHANGED']],
  );
  t.is(after.stats!.size[0], 0, 'no size read from the file outside');
  t.is((after.results[1] as { contentId: string }).contentId, await contentIdOf(join(root, 'top.txt')));
});

test('a file swapped for a symlink is refused and seen as a symlink; a name that is not UTF-8 hashes as by path; an unplugged root fails each file', async (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(base, 'target.txt'), 'elsewhere');
  symlinkSync(join(base, 'target.txt'), join(root, 'sub', 'link.txt'));
  const raw = Buffer.concat([Buffer.from(join(root, 'sub')), Buffer.from('/caf'), Buffer.from([0xe9]), Buffer.from('.txt')]);
  writeFileSync(raw, 'latin-1 name');
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const odd = toKey(`sub/${encodeName(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]))}`);
  const got = await pool.hashKeys(root, [toKey('sub/link.txt'), odd], true);
  const link = got.results[0]!;
  t.is('error' in link ? link.error.code : '', 'ELOOP');
  t.is(got.stats!.flags[0]! & SYMLINK_FLAG, SYMLINK_FLAG, 'its lstat finds the symlink itself');
  t.is((got.results[1] as { contentId: string }).contentId, await contentIdOf(raw));

  const gone = await pool.hashKeys(join(base, 'no-such-root'), [toKey('sub/link.txt'), odd], true);
  t.deepEqual(
    gone.results.map((r) => ('error' in r ? r.error.code : 'hashed')),
    ['ENOENT', 'ENOENT'],
  );
  t.deepEqual(
    gone.stats!.errors.map(([, code]) => code),
    ['ENOENT', 'ENOENT'],
  );
});
