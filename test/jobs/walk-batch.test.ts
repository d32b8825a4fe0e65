// A walk's lstat of a batch in one C call (walk-batch.ts lstatBatch, native/walk-batch.c): every entry,
// odd and hostile ones included, gets the same attributes, or the same error, as entry by entry
// (beneath.ts eachIn), and nothing below a folder swapped for a symlink is read. And a folder's
// listing in one C call (listFolder): the same names and types as by its path.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beneath, closeRoot, openRoot } from '../../src/jobs/beneath.js';
import { IO_BATCH_LIBRARY } from '../../src/jobs/io-batch.js';
import { listFolder, lstatBatch } from '../../src/jobs/walk-batch.js';
import { listDir, type Listing } from '../../src/jobs/walk-list.js';
import { lstatBelow, statColumns, statInto } from '../../src/jobs/walk-stat.js';
import type { LstatColumns } from '../../src/jobs/hash-wire.js';
import { tempDir } from './helpers.js';

/** Entry by entry, as before the batch: one eachIn over the same names. */
function oneByOne(root: string, rels: ReadonlyArray<string | Buffer | undefined>): LstatColumns {
  const b = beneath()!;
  const out = statColumns(rels.length);
  rels.forEach((r, i) => r === undefined && (out.flags[i] = 3));
  const fd = openRoot(root);
  try {
    b.eachIn(fd, rels, (i, lstat) => statInto(out, i, lstat));
  } finally {
    closeRoot(fd);
  }
  return out;
}

/** What a walk takes from the columns: each entry's flags and attributes, or its error. */
function seen(s: LstatColumns, rels: ReadonlyArray<string | Buffer | undefined>): string[] {
  const errors = new Map(s.errors.map(([i, code, message]) => [i, `${code}: ${message}`]));
  return rels.map(
    (r, i) =>
      `${String(r)} -> ` + (errors.get(i) ?? `${s.flags[i]} ${s.size[i]} ${s.mtimeMs[i]} ${s.ino[i]} ${s.dev[i]}`),
  );
}

test('the batch lstat is built wherever the batch read is, unless the build said why not', (t) => {
  if (!beneath()) return void t.pass('no openat2 here: a walk lstats entry by entry');
  const skipped = IO_BATCH_LIBRARY.replace(/\.so$/, '.skipped');
  if (existsSync(skipped)) return void t.pass(`not built: ${readFileSync(skipped, 'utf8').trim()}`);
  t.truthy(lstatBatch(), `${IO_BATCH_LIBRARY} is built and has vd_lstat_batch`);
});

test('odd and hostile entries: the same attributes and errors as entry by entry', (t) => {
  if (!lstatBatch()) return void t.pass('no batch lstat here (see the test above)');
  const base = tempDir(t, 'sd-lstat-batch-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside');
  for (const d of ['a', 'b/c', 'd', 'plain']) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(join(outside, 'c'), { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), 'SECRET');
  writeFileSync(join(outside, 'c', 'x.txt'), 'SECRET');
  for (const f of ['top.txt', 'a/1.txt', 'a/2.txt', 'b/c/deep.txt', 'd/f.txt', 'file.txt'])
    writeFileSync(join(root, f), f);
  writeFileSync(join(root, 'a', 'nine.bin'), Buffer.alloc(9));
  // Before 1970, with nanoseconds; and a sparse file past 4 GiB (the size's high word).
  // (Node's utimes takes no time before 1970.)
  execFileSync('touch', ['-m', '-d', '@-86400.123456789', join(root, 'a', '1.txt')]);
  // After 2262: its nanoseconds outgrow 64 bits.
  writeFileSync(join(root, 'a', 'future.txt'), 'later');
  execFileSync('touch', ['-m', '-d', '@10000000000.5', join(root, 'a', 'future.txt')]);
  writeFileSync(join(root, 'huge.iso'), 'x');
  truncateSync(join(root, 'huge.iso'), 5 * 1024 ** 3 + 17);
  execFileSync('mkfifo', [join(root, 'pipe')]);
  execFileSync('python3', [
    '-c',
    `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(root, 'sock'))})`,
  ]);
  let device = false;
  try {
    execFileSync('mknod', [join(root, 'null'), 'c', '1', '3'], { stdio: 'ignore' });
    device = true;
  } catch {
    t.log('no device node can be made here (not root, or nodev): not tried');
  }
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link.txt'));
  const latin1 = Buffer.from('caf\xe9.txt', 'latin1');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/a/`), latin1]), 'not utf-8');
  // Folders swapped for a symlink to a folder outside, and for a file, since they were listed.
  renameSync(join(root, 'd'), join(root, 'd.real'));
  symlinkSync(outside, join(root, 'd'));
  renameSync(join(root, 'b'), join(root, 'b.real'));
  symlinkSync(outside, join(root, 'b'));

  const rels: Array<string | Buffer | undefined> = [
    'top.txt',
    'a',
    'a/1.txt',
    undefined, // left unstatted by the walk: not asked
    'a/2.txt',
    Buffer.concat([Buffer.from('a/'), latin1]),
    'a/nine.bin',
    'b/c/deep.txt',
    'b/c/x.txt',
    'd/f.txt',
    'd/secret.txt',
    'a/gone.txt',
    'nope/x.txt',
    'file.txt/x',
    'a/2.txt', // the same folder again after others
    'huge.iso',
    'pipe',
    'sock',
    ...(device ? ['null'] : []),
    'link.txt',
    'd',
    'plain',
    'a/bad\0name',
    'a/1.txt',
    'a/future.txt',
    // Names no walk makes, given anyway: the same answer both ways, and nothing above the root read.
    '',
    '.',
    '..',
    'a/..',
    'a/.',
    'a/',
    '/etc/passwd',
    '/etc/hostname',
    `${'x/'.repeat(2100)}y`,
  ];
  // lstatBelow is given every name; the walk's unstatted ones are marked by `unstatted`.
  const batch = lstatBelow(
    root,
    rels.map((r) => r ?? ''),
    [],
    (i) => rels[i] === undefined,
  );
  const one = oneByOne(root, rels);
  t.deepEqual(seen(batch, rels), seen(one, rels));
  // And what a user sees of them: nothing read through a symlink, the odd kinds told apart.
  const at = (r: string): string => seen(batch, rels)[rels.indexOf(r)]!.split(' -> ')[1]!;
  t.regex(at('d/secret.txt'), /^E_PATH_CHANGED/, 'below a folder swapped for a symlink');
  t.regex(at('b/c/x.txt'), /^E_PATH_CHANGED/, 'below a folder whose parent was swapped');
  t.regex(at('file.txt/x'), /^E_PATH_CHANGED/, 'below a file');
  t.regex(at('a/bad\0name'), /^ERR_INVALID_ARG_VALUE/, 'a name holding NUL is refused');
  t.regex(at('a/gone.txt'), /^1 /, 'vanished');
  t.regex(at('nope/x.txt'), /^1 /, 'its folder vanished');
  t.regex(at('pipe'), /^18 0 /, 'a named pipe');
  t.regex(at('sock'), /^34 0 /, 'a socket');
  if (device) t.regex(at('null'), /^130 0 /, 'a character device');
  t.regex(at('link.txt'), /^10 /, 'a symlink, not what it points to');
  t.regex(at('d'), /^10 /, 'the swapped folder is a symlink now');
  t.regex(at('plain'), /^6 0 /, 'a folder, size 0');
  t.regex(at('huge.iso'), new RegExp(`^2 ${5 * 1024 ** 3 + 17} `));
  t.regex(at('a/1.txt'), /^2 7 -86400123\.456789 /, 'mtime before 1970, to the nanosecond');
  t.is(batch.flags[3], 3, 'an entry not asked stays unstatted');
  t.regex(at('a/future.txt'), /^2 5 10000000000500 /, 'mtime after 2262');
  for (const r of ['.', '..', 'a/..', 'a/.']) t.regex(at(r), /^E_BAD_PATH/, `${r} names no entry`);
  t.regex(at('/etc/passwd'), /^EXDEV: .*'\/etc\/passwd'/, 'a path from / is refused, and the error names it');
  t.regex(at('/etc/hostname'), /^EXDEV: .*'\/etc\/hostname'/);
});

test('a batch of many folders, past what one folder holds: every entry, in order', (t) => {
  if (!lstatBatch()) return void t.pass('no batch lstat here (see the first test)');
  const root = join(tempDir(t, 'sd-lstat-batch-'), 'loc');
  const rels: string[] = [];
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(root, `d${d}`, 'e'), { recursive: true });
    rels.push(`d${d}`, `d${d}/e`);
    for (let f = 0; f < 40; f++) {
      writeFileSync(join(root, `d${d}`, `f${f}`), Buffer.alloc(f));
      rels.push(`d${d}/f${f}`, `d${d}/e/missing${f}`);
    }
  }
  t.deepEqual(seen(lstatBelow(root, rels, []), rels), seen(oneByOne(root, rels), rels));
});

test('a size past 2^53 bytes: the same number as entry by entry', (t) => {
  if (!lstatBatch()) return void t.pass('no batch lstat here (see the first test)');
  const base = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/sd-lstat-batch-') : tempDir(t, 'sd-lstat-batch-');
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  writeFileSync(join(base, 'beyond.bin'), 'x');
  try {
    execFileSync('truncate', ['-s', String(2n ** 53n + 2n ** 20n + 5n), join(base, 'beyond.bin')], { stdio: 'ignore' });
  } catch {
    return void t.pass('no file past 2^53 bytes can be made here: not tried');
  }
  const rels = ['beyond.bin'];
  t.deepEqual(seen(lstatBelow(base, rels, []), rels), seen(oneByOne(base, rels), rels));
});

/** A folder's listing through its descriptor (as a walk below a root lists it), and by its path. */
function bothListings(root: string, rel: string): [Listing, Listing] {
  const fd = openRoot(root);
  try {
    const below = { b: beneath()!, rootFd: fd, rel: rel === '' ? '.' : rel };
    return [listDir(join(root, rel), below, (l) => l), listDir(join(root, rel), undefined, (l) => l)];
  } finally {
    closeRoot(fd);
  }
}

test('a folder listed in one C call: the same names, order and types as by its path, odd folders included', (t) => {
  if (!listFolder()) return void t.pass('no C listing here (see the first test)');
  const root = join(tempDir(t, 'sd-list-'), 'loc');
  mkdirSync(join(root, 'sub', 'empty'), { recursive: true });
  for (const n of ['b.txt', 'A.txt', 'a.txt', '.hidden', 'ünï çödé.txt', '日本語.md', 'x'.repeat(255), '%25 odd']) {
    writeFileSync(join(root, 'sub', n), n);
  }
  execFileSync('mkfifo', [join(root, 'sub', 'pipe')]);
  execFileSync('python3', [
    '-c',
    `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(root, 'sub', 'sock'))})`,
  ]);
  symlinkSync('/etc', join(root, 'sub', 'link'));
  // Names not UTF-8, and one holding U+FFFD itself: such a folder is listed by its path, and the same.
  mkdirSync(join(root, 'odd'));
  writeFileSync(Buffer.concat([Buffer.from(`${root}/odd/`), Buffer.from('caf\xe9', 'latin1')]), '1');
  mkdirSync(join(root, 'mark'));
  writeFileSync(join(root, 'mark', 'a\uFFFDb'), '1');
  // More names than one call holds (1 MiB of them): listed by its path.
  mkdirSync(join(root, 'many'));
  for (let i = 0; i < 4200; i++)
    writeFileSync(join(root, 'many', `${String(i).padStart(5, '0')}${'n'.repeat(240)}`), '');

  for (const rel of ['', 'sub', 'sub/empty', 'odd', 'mark', 'many']) {
    const [fast, slow] = bothListings(root, rel);
    t.deepEqual(fast, slow, rel || '(the root)');
  }
  const [sub] = bothListings(root, 'sub');
  t.deepEqual(
    sub.names.map((n, i) => `${n.slice(0, 12)}:${sub.types[i]}`),
    [
      '%25 odd:4',
      '.hidden:4',
      'A.txt:4',
      'a.txt:4',
      'b.txt:4',
      'empty:1',
      'link:2',
      'pipe:0',
      'sock:0',
      'xxxxxxxxxxxx:4',
      'ünï çödé.txt:4',
      '日本語.md:4',
    ],
  );
  // The root's own descriptor, listed twice: each listing starts from its first name.
  const fd = openRoot(root);
  try {
    const list = listFolder()!;
    t.deepEqual(list(fd)?.names.sort(), ['many', 'mark', 'odd', 'sub']);
    t.deepEqual(list(fd)?.names.sort(), ['many', 'mark', 'odd', 'sub']);
  } finally {
    closeRoot(fd);
  }
});
