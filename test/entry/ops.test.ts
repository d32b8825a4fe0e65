import test from 'ava';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SdError } from '../../src/errors.js';
import { testHooks } from '../../src/ops/entry/verify.js';
import { addLocation, assertConsistent, indexOf, setup } from './helpers.js';

test('cp: copies a tree, the copies carry the content ids, the source stays', async (t) => {
  const s = await setup(t, { 'src/a.txt': 'alpha', 'src/deep/b.bin': 'x'.repeat(200_000), 'dst/keep': 'k' });
  const dry = await s.core.command(
    'entry.cp',
    { sources: [join(s.root, 'src')], dest: join(s.root, 'dst') },
    { dryRun: true },
  );
  t.deepEqual(
    dry.plan.changes.map((c) => [c.op, c.target.slice(s.root.length), c.bytes]),
    [
      ['create', '/dst/src', undefined],
      ['create', '/dst/src/a.txt', 5],
      ['create', '/dst/src/deep/b.bin', 200_000],
    ],
  );
  const out = await s.core.command('entry.cp', { sources: [join(s.root, 'src')], dest: join(s.root, 'dst') });
  t.true(out.verify!.ok, JSON.stringify(out.verify));
  t.is(readFileSync(join(s.root, 'dst/src/a.txt'), 'utf8'), 'alpha');
  t.true(existsSync(join(s.root, 'src/a.txt')));
  const idx = indexOf(s.core, s.loc);
  t.is(idx.find((e) => e[0] === 'dst/src/deep/b.bin')![3], idx.find((e) => e[0] === 'src/deep/b.bin')![3]);
  const err = await t.throwsAsync<SdError>(() =>
    s.core.command('entry.cp', { sources: [join(s.root, 'src')], dest: join(s.root, 'dst') }),
  );
  t.is(err?.code, 'E_CONFLICT');
  const again = await s.core.command('entry.cp', {
    sources: [join(s.root, 'src/a.txt')],
    dest: join(s.root, 'src'),
    onConflict: 'rename',
  });
  t.true(again.verify!.ok);
  t.is(readFileSync(join(s.root, 'src/a (1).txt'), 'utf8'), 'alpha', 'a copy onto itself with rename gets a new name');
  await assertConsistent(t, s.core, s);
});

test('rename and mkdir: in place, conflicts named, index updated', async (t) => {
  const s = await setup(t, { 'a.txt': 'a', 'b.txt': 'b' });
  const r = await s.core.command('entry.rename', { path: join(s.root, 'a.txt'), name: 'c.txt' });
  t.true(r.verify!.ok);
  t.true(existsSync(join(s.root, 'c.txt')));
  const clash = await s.core.command('entry.rename', { path: join(s.root, 'c.txt'), name: 'b.txt' }, { dryRun: true });
  t.deepEqual(
    clash.plan.conflicts!.map((c) => c.code),
    ['E_DEST_EXISTS'],
  );
  const bad = await t.throwsAsync<SdError>(() =>
    s.core.command('entry.rename', { path: join(s.root, 'c.txt'), name: '../x' }),
  );
  t.is(bad?.code, 'E_BAD_PATH');
  const m = await s.core.command('entry.mkdir', { path: join(s.root, 'new') });
  t.true(m.verify!.ok);
  const again = await t.throwsAsync<SdError>(() => s.core.command('entry.mkdir', { path: join(s.root, 'new') }));
  t.is(again?.code, 'E_CONFLICT');
  const info = await s.core.query<{ isDir: boolean }>('entry.info', { path: join(s.root, 'new') });
  t.true(info.isDir);
  await assertConsistent(t, s.core, s);
});

test('rm: to the trash (hidden, restorable), trash list/restore/empty; --permanent asks for confirmation', async (t) => {
  const s = await setup(t, { 'a.txt': 'aaa', 'd/b.txt': 'bb', 'p.txt': 'ppp' });
  const out = await s.core.command('entry.rm', { paths: [join(s.root, 'a.txt'), join(s.root, 'd')] });
  t.true(out.verify!.ok, JSON.stringify(out.verify));
  t.false(existsSync(join(s.root, 'a.txt')));
  t.deepEqual(
    indexOf(s.core, s.loc).map((e) => e[0]),
    ['p.txt'],
  );
  const list = await s.core.query<{ id: string; originalPath: string; trashPath: string }[]>('trash.list', {});
  t.is(list.length, 2);
  t.true(list.every((x) => x.trashPath.startsWith(join(s.root, '.vdfs-trash'))));
  await assertConsistent(t, s.core, s);
  const rs = await s.core.command('trash.restore', {});
  t.true(rs.verify!.ok, JSON.stringify(rs.verify));
  t.is(readFileSync(join(s.root, 'd/b.txt'), 'utf8'), 'bb');
  t.is((await s.core.query<unknown[]>('trash.list', {})).length, 0);
  await assertConsistent(t, s.core, s);
  await s.core.command('entry.rm', { paths: [join(s.root, 'a.txt')] });
  await s.core.command('entry.mkdir', { path: join(s.root, 'a.txt') }); // something new at the old path
  const clash = await t.throwsAsync<SdError>(() => s.core.command('trash.restore', { ref: join(s.root, 'a.txt') }));
  t.is(clash?.code, 'E_CONFLICT');
  const need = await t.throwsAsync<SdError>(() => s.core.command('trash.empty', {}));
  t.is(need?.code, 'E_CONFIRMATION_REQUIRED');
  t.true((await s.core.command('trash.empty', {}, { yes: true })).verify!.ok);
  t.deepEqual(readdirSync(join(s.root, '.vdfs-trash')), []);
  const perm = await t.throwsAsync<SdError>(() =>
    s.core.command('entry.rm', { paths: [join(s.root, 'p.txt')], permanent: true }),
  );
  t.is(perm?.code, 'E_CONFIRMATION_REQUIRED');
  t.true(
    (await s.core.command('entry.rm', { paths: [join(s.root, 'p.txt')], permanent: true }, { yes: true })).verify!.ok,
  );
  t.false(existsSync(join(s.root, 'p.txt')));
  await assertConsistent(t, s.core, s);
});

test('mv across filesystems: a warning in the preview, then copy + verify + delete, index of both locations updated', async (t) => {
  if (!existsSync('/dev/shm')) return void t.pass('no /dev/shm: another filesystem is not available here');
  const s = await setup(t, { 'big.bin': 'z'.repeat(300_000), keep: 'k' });
  const other = await setup(t, { x: 'x' }, '/dev/shm');
  const dest = join(other.root);
  // Both locations belong to the same library in this test.
  const shared = { ...other, core: s.core, loc: await addLocation(s.core, other.root) };
  const dry = await s.core.command('entry.mv', { sources: [join(s.root, 'big.bin')], dest }, { dryRun: true });
  t.true(
    (dry.plan.warnings ?? []).some((w) => w.includes('another filesystem')),
    JSON.stringify(dry.plan.warnings),
  );
  const out = await s.core.command('entry.mv', { sources: [join(s.root, 'big.bin')], dest });
  t.true(out.verify!.ok, JSON.stringify(out.verify));
  t.false(existsSync(join(s.root, 'big.bin')));
  t.is(readFileSync(join(dest, 'big.bin')).length, 300_000);
  await assertConsistent(t, s.core, s);
  await assertConsistent(t, s.core, shared);
});

test('tags follow content across a move', async (t) => {
  const s = await setup(t, { 'photo.jpg': 'not really a jpeg', 'album/x': 'x' });
  await s.core.command('tag.create', { name: 'holiday' });
  await s.core.command('tag.apply', { tag: 'holiday', paths: [join(s.root, 'photo.jpg')] });
  const out = await s.core.command('entry.mv', { sources: [join(s.root, 'photo.jpg')], dest: join(s.root, 'album') });
  t.true(out.verify!.ok);
  const info = await s.core.query<{ tags: string[] }>('entry.info', { path: join(s.root, 'album', 'photo.jpg') });
  t.deepEqual(info.tags, ['holiday']);
});

test('a disk changed between commit and verify fails verify with the path, and the index shows the disk', async (t) => {
  const s = await setup(t, { 'a.txt': 'original', 'd/k': 'k' });
  const target = join(s.root, 'd', 'a.txt');
  // Only this test's command (tests of this file run concurrently and share the hook).
  testHooks.afterCommit = (steps) => {
    if (steps.some((x) => x.to === target)) writeFileSync(target, 'tampered after the commit');
  };
  t.teardown(() => void (testHooks.afterCommit = undefined));
  const out = await s.core.command('entry.mv', { sources: [join(s.root, 'a.txt')], dest: join(s.root, 'd') });
  testHooks.afterCommit = undefined;
  t.false(out.verify!.ok);
  const failed = out.verify!.checks.filter((c) => !c.ok);
  t.true(
    failed.some((c) => c.what.includes(target) && (c.detail ?? '').includes('bytes')),
    JSON.stringify(failed),
  );
  const info = await s.core.query<{ size: number; contentId: string | null }>('entry.info', { path: target });
  t.is(info.size, 'tampered after the commit'.length, 'sd info shows the size on disk');
  t.is(info.contentId, null, 'and that the content is not identified yet');
  t.true(indexOf(s.core, s.loc).some((e) => e[0] === 'd/a.txt'));
});
