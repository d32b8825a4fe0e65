import test, { type ExecutionContext } from 'ava';
import { lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fastLstat, StatError, type RawStat } from '../../src/jobs/statx.js';
import { lstatColumns } from '../../src/jobs/walk.js';
import { tempDir } from './helpers.js';

// The walk's lstat goes through statx(2) directly. A field that differs from Node's lstat would
// make every rescan see changed files (and lose their content ids): each must be Node's, exactly.

type Seen = string | { mode: number; size: number; mtimeNs: bigint; ino: bigint; dev: bigint } | 'gone';

function viaNode(p: string | Buffer): Seen {
  try {
    const s = lstatSync(p, { bigint: true, throwIfNoEntry: false });
    if (!s) return 'gone';
    return { mode: Number(s.mode), size: Number(s.size), mtimeNs: s.mtimeNs, ino: s.ino, dev: s.dev };
  } catch (e) {
    return `${(e as { code: string }).code} ${(e as Error).message}`;
  }
}

function viaStatx(statx: NonNullable<ReturnType<typeof fastLstat>>, p: string | Buffer): Seen {
  const out: RawStat = { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n };
  try {
    return statx(p, out) ? { ...out } : 'gone';
  } catch (e) {
    return e instanceof StatError ? `${e.code} ${e.message}` : `not a StatError: ${String(e)}`;
  }
}

function oddTree(t: ExecutionContext): { dir: string; paths: (string | Buffer)[] } {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'plain.txt'), 'hello');
  execFileSync('mkfifo', [join(dir, 'pipe')]);
  symlinkSync('plain.txt', join(dir, 'link'));
  symlinkSync('nowhere', join(dir, 'dangling'));
  mkdirSync(join(dir, 'sub'));
  // A sparse file past 4 GiB: the size's high word counts.
  writeFileSync(join(dir, 'sparse'), 'x');
  execFileSync('truncate', ['-s', '6G', join(dir, 'sparse')]);
  const bad = Buffer.concat([Buffer.from(`${dir}/name-`), Buffer.from([0xff, 0xfe])]);
  writeFileSync(bad, 'not UTF-8');
  const paths: (string | Buffer)[] = [
    ...readdirSync(dir).map((n) => join(dir, n)),
    bad,
    join(dir, 'missing'),
    join(dir, 'plain.txt', 'below-a-file'),
    `/${'x'.repeat(5000)}`,
    '/dev/null',
    '/proc/self',
  ];
  return { dir, paths };
}

test('statx gives what Node lstat gives: fields of odd files, and the same errors', (t) => {
  const statx = fastLstat();
  if (!statx) {
    t.log('statx cannot be called here (no koffi, not glibc, or not Linux): the walk uses Node lstat');
    t.pass();
    return;
  }
  const { paths } = oddTree(t);
  for (const p of paths) t.deepEqual(viaStatx(statx, p), viaNode(p), String(p));
  const seen = paths.map((p) => viaStatx(statx, p));
  t.true(seen.includes('gone'), 'a missing path is gone, not an error');
  t.true(
    seen.some((s) => typeof s === 'string' && s.startsWith('ENOTDIR ')),
    'a path below a file is ENOTDIR',
  );
  t.true(
    seen.some((s) => typeof s === 'object' && s.size === 6 * 1024 ** 3),
    'a 6 GiB sparse file has its size',
  );
});

test('a walk batch lstat reports odd files as before: flags, sizes, errors by path', (t) => {
  const { paths } = oddTree(t);
  const cols = lstatColumns(paths);
  paths.forEach((p, i) => {
    const n = viaNode(p);
    if (n === 'gone') return t.is(cols.flags[i], 1, `${String(p)} is gone`);
    if (typeof n === 'string') {
      const err = cols.errors.find((e) => e[0] === i);
      return t.is(err && `${err[1]} ${err[2]}`, n, `${String(p)} has Node's error`);
    }
    t.is(cols.ino[i], n.ino, `${String(p)} inode`);
    t.is(cols.dev[i], n.dev, `${String(p)} device`);
    t.is(cols.mtimeMs[i], Number(n.mtimeNs) / 1e6, `${String(p)} mtime`);
    const fmt = n.mode & 0o170000;
    const dir = fmt === 0o040000;
    t.is(cols.size[i], dir ? 0 : n.size, `${String(p)} size`);
    t.is(!!(cols.flags[i]! & 4), dir, `${String(p)} is a folder`);
    t.is(!!(cols.flags[i]! & 8), fmt === 0o120000, `${String(p)} is a link`);
    t.is(!!(cols.flags[i]! & 16), fmt === 0o010000, `${String(p)} is a pipe`);
  });
});
