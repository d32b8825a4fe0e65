// `ls` from the index with names and values that a listing could get wrong: quotes, backslashes,
// control characters, line separators, emoji, a name that is not UTF-8, names that look like JSON
// or numbers, a file past 4 GiB, a file dated before 1970. Each row must be what the disk holds,
// folders first, then in the index's name order.
import test from 'ava';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  utimesSync,
  writeFileSync,
  ftruncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { encodeName } from '../../src/jobs/names.js';
import { openCore, tempDir } from '../helpers.js';
import { addAndIndex } from '../fixtures-child/util.js';

interface Listed {
  name: string;
  path: string;
  isDir: boolean;
  size: number | null;
  files: number | null;
  modified: number | null;
  contentId: string | null;
}

const ODD = [
  'say "hi".txt',
  'back\\slash.txt',
  'tab\there.txt',
  'line\nbreak.txt',
  'sep\u2028arator.txt',
  'bell\u0007.txt',
  '"],["x", 1e400]',
  '1e400',
  '-0',
  'null',
  '🦀 crab.rs',
  'Éclair.md',
  'éclair.md',
  'Zeta',
  'alpha',
];

test('ls lists odd names and values exactly as the disk holds them, folders first then by name', async (t) => {
  const dir = tempDir(t, 'sd-ls-');
  const root = join(dir, 'tree');
  mkdirSync(root);
  for (const n of ODD) writeFileSync(join(root, n), `content of ${n}`);
  writeFileSync(Buffer.from(`${root}/raw-\xff-name.bin`, 'latin1'), 'not utf-8');
  mkdirSync(join(root, 'zz folder "q"'));
  writeFileSync(join(root, 'zz folder "q"', 'inner.txt'), 'inner');
  mkdirSync(join(root, 'A folder'));
  // A sparse file past 4 GiB and one dated before 1970.
  const big = join(root, 'big.img');
  const fd = openSync(big, 'w');
  ftruncateSync(fd, 5 * 2 ** 30 + 123);
  closeSync(fd);
  const old = join(root, 'old.txt');
  writeFileSync(old, 'old');
  utimesSync(old, new Date(-86_400_500), new Date(-86_400_500));

  const core = await openCore(t, join(dir, 'data'));
  await addAndIndex(core, root);
  const { entries } = await core.query<{ entries: Listed[] }>('entry.ls', { path: root });

  const onDisk = readdirSync(root, { encoding: 'buffer' }).map((b) => encodeName(b));
  t.deepEqual(entries.map((e) => e.name).sort(), [...onDisk].sort(), 'every name on disk, each once');
  t.deepEqual(
    entries.slice(0, 2).map((e) => e.name),
    ['A folder', 'zz folder "q"'],
    'folders first, in name order',
  );
  const files = entries.slice(2).map((e) => e.name);
  t.deepEqual(
    files,
    [...files].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    'files in name order (byte order of UTF-8, as the index sorts)',
  );
  for (const e of entries) {
    t.is(e.path, join(root, e.name), e.name);
    if (e.isDir) continue;
    if (e.name.includes('raw-')) continue; // its path is escaped; its size is checked below
    const st = lstatSync(join(root, e.name));
    t.is(e.size, st.size, `size of ${JSON.stringify(e.name)}`);
    t.is(e.modified, Math.floor(st.mtimeMs), `mtime of ${JSON.stringify(e.name)}`);
    t.regex(e.contentId ?? '', /^[0-9a-f]{32}$/, `content id of ${JSON.stringify(e.name)}`);
  }
  t.is(entries.find((e) => e.name === 'big.img')?.size, 5 * 2 ** 30 + 123);
  t.true((entries.find((e) => e.name === 'old.txt')?.modified ?? 0) < 0, 'dated before 1970');
  t.like(
    entries.find((e) => e.name === 'zz folder "q"'),
    { isDir: true, files: 1, size: 5 },
  );
  t.is(entries.find((e) => e.name.includes('raw-'))?.size, 'not utf-8'.length);

  // A limit keeps the first names of that order.
  const two = await core.query<{ entries: Listed[] }>('entry.ls', { path: root, limit: 2 });
  t.is(two.entries.length, 2);
  // An empty folder lists nothing, and a file is refused.
  t.deepEqual((await core.query<{ entries: Listed[] }>('entry.ls', { path: join(root, 'A folder') })).entries, []);
  await t.throwsAsync(core.query('entry.ls', { path: old }), { code: 'E_NOT_A_FOLDER' });
});
