// Names that are not valid UTF-8 and 255-byte names through every file operation, given on the
// command line as the bytes they are on disk, through the real daemon and CLI.
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { Daemon } from './daemon-helpers.js';

const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1: not UTF-8
const RAW_FILE = Buffer.from([0x66, 0xff, 0x6f, 0x2e, 0x74, 0x78, 0x74]); // f\xffo.txt
const LONG = `${'n'.repeat(251)}.txt`; // 255 bytes, the most a name can have

const bytesIn = (dir: string | Buffer): Buffer[] => readdirSync(dir, { encoding: 'buffer' });
const has = (dir: string | Buffer, name: Buffer | string): boolean =>
  bytesIn(dir).some((b) => b.equals(Buffer.from(name)));

test('a name that is not UTF-8 and a 255-byte name go through mv, cp, rename, rm, restore, mkdir and rm --permanent', async (t) => {
  const base = tempDir(t, 'sd-odd-');
  const root = join(base, 'loc');
  const odd = Buffer.concat([Buffer.from(`${root}/`), LATIN1]);
  mkdirSync(odd, { recursive: true });
  writeFileSync(Buffer.concat([odd, Buffer.from('/'), RAW_FILE]), 'raw bytes in the name');
  writeFileSync(Buffer.concat([odd, Buffer.from('/plain.txt')]), 'plain');
  writeFileSync(join(root, LONG), 'long');
  mkdirSync(join(root, 'dst'));
  const d = new Daemon(t, join(base, 'data'));
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--wait', '--no-watch').code, 0);
  const q = (s: string): string => `"${root}"/${s}`;
  const ok = (args: string, what: string): void => {
    const r = d.sdShell(`--json ${args}`);
    t.is(r.code, 0, `${what}: ${r.out}${r.err}`);
    if (r.code === 0) t.true((JSON.parse(r.out) as { verify?: { ok: boolean } }).verify?.ok !== false, what);
  };
  // mv of a folder holding a non-UTF-8 name, named by its own bytes on the command line.
  ok(`mv ${q("$'caf\\xe9'")} ${q('dst')}`, 'mv');
  t.true(has(join(root, 'dst'), LATIN1));
  t.true(has(Buffer.concat([Buffer.from(`${root}/dst/`), LATIN1]), RAW_FILE), 'with the raw-named file inside');
  // cp of it back, and of the 255-byte name onto itself with --on-conflict rename.
  ok(`cp ${q("dst/$'caf\\xe9'")} ${q('.')}`, 'cp');
  t.true(has(root, LATIN1));
  ok(`cp --on-conflict rename ${q(LONG)} ${q('.')}`, 'cp --on-conflict rename of a 255-byte name');
  const renamed = bytesIn(root).filter((b) => b.toString().startsWith('nnnn') && b.toString().includes('(1)'));
  t.is(renamed.length, 1, 'a free name was found');
  t.true(renamed[0]!.length <= 255, `${renamed[0]!.length} bytes`);
  t.true(renamed[0]!.toString().endsWith(' (1).txt'));
  // rename the raw-named file inside, to another raw name.
  ok(`rename ${q("$'caf\\xe9/f\\xffo.txt'")} $'g\\xfe.txt'`, 'rename');
  t.true(has(odd, Buffer.from([0x67, 0xfe, 0x2e, 0x74, 0x78, 0x74])));
  t.false(has(odd, RAW_FILE));
  // mkdir with a raw name, rm to the trash and back, then rm --permanent.
  ok(`mkdir ${q("$'new\\xe9'")}`, 'mkdir');
  t.true(has(root, Buffer.from([0x6e, 0x65, 0x77, 0xe9])));
  ok(`rm ${q("$'caf\\xe9'")}`, 'rm to the trash');
  t.false(has(root, LATIN1));
  ok('trash restore', 'restore');
  t.true(has(root, LATIN1));
  ok(`rm ${q(LONG)}`, 'rm of the 255-byte name to the trash');
  ok('trash empty --yes', 'trash empty');
  t.deepEqual(bytesIn(join(root, '.vdfs-trash')), [], 'emptied');
  ok(`rm --permanent --yes ${q("$'caf\\xe9'")} ${q("dst/$'caf\\xe9'")}`, 'rm --permanent');
  t.false(has(root, LATIN1));
  t.false(existsSync(join(root, LONG)));
  // The index and a replay agree with what happened.
  const ls = d.json<{ entries: { name: string }[] }>('ls', root);
  t.true(
    ls.entries.some((e) => e.name === '\uFFFDnew%E9'),
    JSON.stringify(ls.entries.map((e) => e.name)),
  );
  t.false(ls.entries.some((e) => e.name === '\uFFFDcaf%E9'));
  t.true(d.json<{ equal: boolean }>('replay', '--check').equal);
});

test('filesystem errors come back as E_ codes naming the path', (t) => {
  const base = tempDir(t, 'sd-odd-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'd'), { recursive: true });
  const d = new Daemon(t, join(base, 'data'));
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--wait', '--no-watch').code, 0);
  const missing = d.sd('--json', 'mv', join(root, 'nope'), join(root, 'd'));
  t.is(Daemon.code(missing), 'E_PATH_NOT_FOUND');
  t.regex(missing.out, /nope/);
  const long = d.sd('--json', 'mkdir', join(root, 'x'.repeat(256)));
  t.is(Daemon.code(long), 'E_NAME_TOO_LONG');
});
