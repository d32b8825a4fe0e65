import test from 'ava';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandOutcome } from '../../src/core.js';
import type { SdError } from '../../src/errors.js';
import { assertConsistent, indexOf, setup } from './helpers.js';

type Out = CommandOutcome & {
  plan: {
    changes: { op: string; target: string; bytes?: number }[];
    conflicts?: { code: string }[];
    warnings?: string[];
  };
};

test('mv: preview lists each file and its bytes, commit moves on disk and in the index, verify holds', async (t) => {
  const s = await setup(t, { 'a.txt': 'hello', 'docs/b.md': 'bee', 'dir/x/y.txt': 'yyyy' });
  const cidBefore = indexOf(s.core, s.loc).find((e) => e[0] === 'a.txt')![3];
  t.truthy(cidBefore);
  const dry = (await s.core.command(
    'entry.mv',
    { sources: [join(s.root, 'a.txt'), join(s.root, 'dir')], dest: join(s.root, 'docs') },
    { dryRun: true },
  )) as Out;
  t.false(dry.committed);
  t.deepEqual(
    dry.plan.changes.map((c) => [c.op, c.target.slice(s.root.length), c.bytes]),
    [
      ['move', '/docs/a.txt', 5],
      ['move', '/docs/dir', undefined],
      ['move', '/docs/dir/x/y.txt', 4],
    ],
  );
  t.true(existsSync(join(s.root, 'a.txt')), 'a dry run changes nothing');
  const out = await s.core.command('entry.mv', {
    sources: [join(s.root, 'a.txt'), join(s.root, 'dir')],
    dest: join(s.root, 'docs'),
  });
  t.true(out.verify!.ok, JSON.stringify(out.verify));
  t.false(existsSync(join(s.root, 'a.txt')));
  t.is(readFileSync(join(s.root, 'docs/a.txt'), 'utf8'), 'hello');
  t.is(indexOf(s.core, s.loc).find((e) => e[0] === 'docs/a.txt')![3], cidBefore, 'content id kept');
  const info = await s.core.query<{ size: number }>('entry.info', { path: join(s.root, 'docs') });
  t.is(info.size, 5 + 3 + 4, 'folder totals updated');
  await assertConsistent(t, s.core, s);
});

test('mv: an existing destination is a conflict that stops the command; skip, overwrite and rename resolve it', async (t) => {
  const s = await setup(t, {
    'a.txt': 'new',
    'd/a.txt': 'old',
    'b.txt': 'bbb',
    'c.txt': 'ccc',
    'd/b.txt': 'old b',
    'd/c.txt': 'old c',
  });
  const args = (name: string) => ({ sources: [join(s.root, name)], dest: join(s.root, 'd') });
  const err = await t.throwsAsync<SdError>(() => s.core.command('entry.mv', args('a.txt')));
  t.is(err?.code, 'E_CONFLICT');
  t.is((err?.details as { conflicts: { code: string }[] }).conflicts[0]!.code, 'E_DEST_EXISTS');
  t.is(readFileSync(join(s.root, 'a.txt'), 'utf8'), 'new', 'nothing changed');
  const skip = await s.core.command('entry.mv', { ...args('a.txt'), onConflict: 'skip' });
  t.true(skip.verify!.ok);
  t.true(existsSync(join(s.root, 'a.txt')));
  const over = await s.core.command('entry.mv', { ...args('b.txt'), onConflict: 'overwrite' });
  t.true(over.verify!.ok, JSON.stringify(over.verify));
  t.is(readFileSync(join(s.root, 'd/b.txt'), 'utf8'), 'bbb');
  const trash = await s.core.query<{ originalPath: string; reason: string }[]>('trash.list', {});
  t.deepEqual(
    trash.map((x) => [x.originalPath, x.reason]),
    [[join(s.root, 'd/b.txt'), 'overwritten']],
    'the overwritten file went to the trash',
  );
  const ren = await s.core.command('entry.mv', { ...args('c.txt'), onConflict: 'rename' });
  t.true(ren.verify!.ok);
  t.is(readFileSync(join(s.root, 'd/c (1).txt'), 'utf8'), 'ccc');
  t.is(readFileSync(join(s.root, 'd/c.txt'), 'utf8'), 'old c');
  await assertConsistent(t, s.core, s);
});

test('mv: same file and destination inside the source are conflicts', async (t) => {
  const s = await setup(t, { 'd/a.txt': 'a', 'd/sub/b.txt': 'b' });
  const same = (await s.core.command(
    'entry.mv',
    { sources: [join(s.root, 'd/a.txt')], dest: join(s.root, 'd') },
    { dryRun: true },
  )) as Out;
  t.deepEqual(
    same.plan.conflicts!.map((c) => c.code),
    ['E_SAME_FILE'],
  );
  const inside = (await s.core.command(
    'entry.mv',
    { sources: [join(s.root, 'd')], dest: join(s.root, 'd/sub') },
    { dryRun: true },
  )) as Out;
  t.deepEqual(
    inside.plan.conflicts!.map((c) => c.code),
    ['E_DEST_INSIDE_SOURCE'],
  );
  const err = await t.throwsAsync<SdError>(() =>
    s.core.command('entry.mv', { sources: [join(s.root, 'd')], dest: join(s.root, 'd/sub'), onConflict: 'overwrite' }),
  );
  t.is(err?.code, 'E_CONFLICT');
  t.true(existsSync(join(s.root, 'd/sub/b.txt')));
});

test('mv: paths escaping the location (.., a symlink out), NUL bytes, relative and overlong paths are refused', async (t) => {
  const s = await setup(t, { 'a.txt': 'a', 'd/x': 'x' });
  const outside = join(s.root, '..');
  symlinkSync(outside, join(s.root, 'escape'));
  const codeOf = async (input: unknown): Promise<[string | undefined, string | undefined]> => {
    const e = await t.throwsAsync<SdError>(() => s.core.command('entry.mv', input, { dryRun: true }));
    return [e?.code, e?.message];
  };
  const dotdot = await codeOf({ sources: [join(s.root, 'a.txt')], dest: `${s.root}/d/../../elsewhere.txt` });
  t.is(dotdot[0], 'E_PATH_OUTSIDE_LOCATION');
  t.true(dotdot[1]!.includes('elsewhere.txt'));
  const link = await codeOf({ sources: [join(s.root, 'a.txt')], dest: join(s.root, 'escape', 'stolen.txt') });
  t.is(link[0], 'E_PATH_OUTSIDE_LOCATION');
  t.true(link[1]!.includes('escape/stolen.txt'));
  t.is(
    (await codeOf({ sources: [join(s.root, 'escape', 'x')], dest: join(s.root, 'd') }))[0],
    'E_PATH_OUTSIDE_LOCATION',
  );
  const nul = await codeOf({ sources: [`${s.root}/a\0.txt`], dest: join(s.root, 'd') });
  t.is(nul[0], 'E_BAD_PATH');
  t.true(nul[1]!.includes('a\\u0000.txt'));
  t.is((await codeOf({ sources: ['a.txt'], dest: join(s.root, 'd') }))[0], 'E_BAD_PATH');
  const long = await codeOf({ sources: [join(s.root, 'a.txt')], dest: join(s.root, 'x'.repeat(300)) });
  t.is(long[0], 'E_NAME_TOO_LONG');
  t.true(existsSync(join(s.root, 'a.txt')));
});

test('mv: a plan that went stale between preview and commit is refused', async (t) => {
  const s = await setup(t, { 'a.txt': 'aaa', 'd/keep': 'k' });
  const input = { sources: [join(s.root, 'a.txt')], dest: join(s.root, 'd') };
  const dry = await s.core.command('entry.mv', input, { dryRun: true });
  writeFileSync(join(s.root, 'a.txt'), 'changed after the preview');
  const err = await t.throwsAsync<SdError>(() =>
    s.core.command('entry.mv', input, { fingerprint: dry.plan.fingerprint }),
  );
  t.is(err?.code, 'E_STALE_PLAN');
  t.true(existsSync(join(s.root, 'a.txt')));
  const fresh = await s.core.command('entry.mv', input, { dryRun: true });
  const ok = await s.core.command('entry.mv', input, { fingerprint: fresh.plan.fingerprint });
  t.true(ok.verify!.ok);
});
