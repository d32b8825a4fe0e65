// The index job seen from a user: a generated tree is indexed entry by entry like the disk,
// moves are detected without rehashing, changes and deletions show up after a rescan, and
// location add/remove refuse or drop what they should.
import test from 'ava';
import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { encodeName } from '../../src/jobs/names.js';
import { runIndexJob, type IndexCheckpoint } from '../../src/jobs/indexer.js';
import { toKey } from '../../src/projections/entries.js';
import { openCore } from '../helpers.js';
import { addAndIndex, eventBodies, indexRows, referenceTree, waitJob, type RefEntry } from '../fixtures-child/util.js';
import { handJob, tempDir } from './helpers.js';

interface Listed {
  name: string;
  path: string;
  kind: string;
  isDir: boolean;
  size: number | null;
  files: number | null;
  contentId: string | null;
}
interface Info extends Listed {
  inode: number;
  copies: { path: string }[];
}

test('a generated tree is indexed entry by entry like the filesystem', async (t) => {
  const dir = tempDir(t);
  const m = generateTree(join(dir, 'tree'), {
    files: 2500,
    folders: 150,
    seed: 7,
    sparseFiles: 2,
    sparseSize: 8 * 1024 * 1024,
  });
  const core = await openCore(t, join(dir, 'data'));
  const { job } = await addAndIndex(core, m.root);

  const ref = referenceTree(m.root);
  // Folder totals computed from the disk: bytes and file counts of everything below.
  const agg = new Map<string, { bytes: number; files: number }>();
  for (const e of ref.values()) {
    if (e.isDir) agg.set(e.rel, agg.get(e.rel) ?? { bytes: 0, files: 0 });
    if (e.isDir || e.isSymlink) continue;
    for (let p = e.rel; p.includes('/');) {
      p = p.slice(0, p.lastIndexOf('/'));
      const a = agg.get(p) ?? { bytes: 0, files: 0 };
      a.bytes += e.size;
      a.files++;
      agg.set(p, a);
    }
  }

  // Walk the index the way a user would: `ls` of every folder, from the location root down.
  const seen = new Map<string, Listed>();
  const queue = [''];
  while (queue.length > 0) {
    const rel = queue.shift()!;
    const { entries } = await core.query<{ entries: Listed[] }>('entry.ls', {
      path: rel === '' ? m.root : join(m.root, rel),
    });
    for (const e of entries) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      seen.set(r, e);
      if (e.isDir) queue.push(r);
    }
  }
  t.deepEqual(
    [...seen.keys()].sort(),
    [...ref.keys()].sort(),
    'the index lists exactly what is on disk (hidden and skipped names left out)',
  );

  const cids = new Map<string, string[]>();
  let checked = 0;
  for (const [rel, e] of ref) {
    const got = seen.get(rel);
    if (!got) continue;
    if (e.isDir) {
      const a = agg.get(rel)!;
      t.like(got, { kind: 'folder', isDir: true, size: a.bytes, files: a.files }, rel);
    } else if (e.isSymlink) {
      t.like(got, { kind: 'symlink', isDir: false, size: e.size, contentId: null }, rel);
    } else {
      const cid = await contentIdOf(e.raw);
      t.like(got, { isDir: false, size: e.size, contentId: cid }, rel);
      t.not(got.kind, 'folder');
      cids.set(cid, [...(cids.get(cid) ?? []), rel]);
      checked++;
    }
  }
  // Skipped by default: .hidden-file, .git/config, node_modules/pkg/index.js, .DS_Store, ignored-demo/.gitignore.
  t.is(checked, m.files - 5 - (m.unreadableEnforced ? 1 : 0));
  t.true(checked > 2500);

  // Location totals (the root folder) match the disk.
  const top = await core.query<{ entries: Listed[] }>('entry.ls', {});
  const files = [...ref.values()].filter((e) => !e.isDir && !e.isSymlink);
  t.like(top.entries[0], { path: m.root, files: files.length, size: files.reduce((s, e) => s + e.size, 0) });

  // Large sparse files, the symlink loop and names that are not UTF-8 are all there.
  for (const s of m.sparse) {
    const info = await core.query<Info>('entry.info', { path: s });
    t.is(info.size, 8 * 1024 * 1024);
    t.is(info.contentId, await contentIdOf(s));
  }
  t.is((await core.query<Info>('entry.info', { path: join(m.root, 'links', 'loop') })).kind, 'symlink');
  const badName = encodeName(Buffer.from([0x66, 0xff, 0x6f]));
  const bad = await core.query<Info>('entry.info', { path: join(m.root, badName) });
  t.is(bad.contentId, await contentIdOf(m.nonUtf8[0]!));
  t.is(bad.size, 14);
  const badDir = encodeName(Buffer.from([0x62, 0x61, 0x64, 0x2d, 0xc3, 0x28]));
  t.like(await core.query<Info>('entry.info', { path: join(m.root, badDir) }), { isDir: true, files: 1, size: 6 });
  // A chmod-000 folder is a per-path error on the job, never fatal (root can read it anyway).
  if (m.unreadableEnforced) {
    t.true(
      job.errorList.some((e) => e.path === 'locked' && e.code === 'EACCES'),
      JSON.stringify(job.errorList),
    );
    t.false(seen.has('locked/secret.txt'));
  } else {
    t.true(seen.has('locked/secret.txt'));
  }
  t.true(ref.get('locked')?.unreadable === m.unreadableEnforced);

  // Duplicates share a content id and each lists the others as copies.
  const groups = [...cids.values()].filter((g) => g.length >= 2 && g.length <= 50);
  t.true(groups.length >= 20, `only ${groups.length} duplicate groups`);
  for (const g of groups.slice(0, 30)) {
    const info = await core.query<Info>('entry.info', { path: join(m.root, g[0]!) });
    t.deepEqual(
      info.copies.map((c) => c.path).sort(),
      g
        .slice(1)
        .map((r) => join(m.root, r))
        .sort(),
      g[0],
    );
  }

  t.true(
    (await core.query<{ equal: boolean }>('replay.check', {})).equal,
    'replaying the log rebuilds the same projection',
  );
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
});

function bigFile(ref: Map<string, RefEntry>): RefEntry {
  return [...ref.values()].find((e) => !e.isDir && !e.isSymlink && e.size > 100 * 1024 && !e.rel.startsWith('large/'))!;
}

test('a renamed large file and a moved folder keep their content ids without rehashing', async (t) => {
  const dir = tempDir(t);
  const m = generateTree(join(dir, 'tree'), {
    files: 1500,
    folders: 60,
    seed: 8,
    extras: false,
    sparseSize: 16 * 1024 * 1024,
  });
  const core = await openCore(t, join(dir, 'data'));
  const { id } = await addAndIndex(core, m.root);
  const ref = referenceTree(m.root);

  const big = bigFile(ref);
  t.truthy(big, 'the tree has a file above the 100 KiB sampling threshold');
  const sparse = join(m.root, 'large', 'sparse-0.bin');
  const sparseCid = (await core.query<Info>('entry.info', { path: sparse })).contentId;
  const bigCid = (await core.query<Info>('entry.info', { path: join(m.root, big.rel) })).contentId;
  // A top-level folder with files below it, moved into another top-level folder.
  const tops = [...ref.values()].filter((e) => e.isDir && !e.rel.includes('/') && e.rel !== 'large');
  const folder = tops.find(
    (e) => !big.rel.startsWith(`${e.rel}/`) && [...ref.keys()].filter((k) => k.startsWith(`${e.rel}/`)).length >= 10,
  )!;
  const target = tops.find((e) => e !== folder)!;
  const before = new Map(
    indexRows(core, id)
      .filter((r) => r.key.startsWith(`${folder.rel}/`))
      .map((r) => [r.key.slice(folder.rel.length), r]),
  );
  t.true(before.size >= 10);

  const identified = eventBodies(core, 'entries.identified').length;
  const moved = eventBodies(core, 'entries.moved').length;
  renameSync(sparse, join(m.root, 'large', 'renamed.bin'));
  renameSync(join(m.root, big.rel), join(m.root, 'renamed-big.bin'));
  renameSync(join(m.root, folder.rel), join(m.root, target.rel, 'moved-here'));
  // Changed inside the moved folder before the rescan: one file deleted.
  const dropped = [...before.entries()].find(([, r]) => r.t === 0)![0];
  rmSync(join(m.root, target.rel, 'moved-here', dropped));
  before.delete(dropped);

  const out = await core.command<{ job: string }>('location.rescan', { ref: id });
  const job = await waitJob(core, out.result!.job);
  t.is(job.state, 'completed');

  const renamed = await core.query<Info>('entry.info', { path: join(m.root, 'large', 'renamed.bin') });
  t.is(renamed.contentId, sparseCid);
  t.is(renamed.size, 16 * 1024 * 1024);
  t.is((await core.query<Info>('entry.info', { path: join(m.root, 'renamed-big.bin') })).contentId, bigCid);
  await t.throwsAsync(core.query('entry.info', { path: sparse }), { code: 'E_NOT_INDEXED' });
  await t.throwsAsync(core.query('entry.info', { path: join(m.root, folder.rel) }), { code: 'E_NOT_INDEXED' });
  const newBase = `${target.rel}/moved-here`;
  const after = new Map(
    indexRows(core, id)
      .filter((r) => r.key.startsWith(`${newBase}/`))
      .map((r) => [r.key.slice(newBase.length), r]),
  );
  t.deepEqual(
    [...after.entries()].map(([k, r]) => [k, r.t, r.size, r.cid]),
    [...before.entries()].map(([k, r]) => [k, r.t, r.size, r.cid]),
    'the moved folder kept every entry and content id, less the file deleted in it',
  );
  await t.throwsAsync(core.query('entry.info', { path: join(m.root, newBase, dropped) }), { code: 'E_NOT_INDEXED' });

  t.is(eventBodies(core, 'entries.identified').length, identified, 'nothing was identified (hashed) again');
  const moves = eventBodies<{ moves: [string, string][] }>(core, 'entries.moved')
    .slice(moved)
    .flatMap((b) => b.moves.map(([a, z]) => [a.split('\u0001').join('/'), z.split('\u0001').join('/')]));
  t.deepEqual(
    moves.sort(),
    [
      [big.rel, 'renamed-big.bin'],
      [folder.rel, newBase],
      ['large/sparse-0.bin', 'large/renamed.bin'],
    ].sort(),
  );
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
});

test('a rescan gives a modified file a new content id and drops deleted files and folders', async (t) => {
  const dir = tempDir(t);
  const m = generateTree(join(dir, 'tree'), { files: 800, folders: 40, seed: 9, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));
  const { id } = await addAndIndex(core, m.root);
  const ref = referenceTree(m.root);
  const files = [...ref.values()].filter((e) => !e.isDir && e.size > 0);
  const modified = files[0]!;
  const deleted = files[files.length - 1]!;
  const folder = [...ref.values()].find(
    (e) =>
      e.isDir && e.rel.includes('/') && !modified.rel.startsWith(`${e.rel}/`) && !deleted.rel.startsWith(`${e.rel}/`),
  )!;
  const oldCid = (await core.query<Info>('entry.info', { path: join(m.root, modified.rel) })).contentId;

  appendFileSync(join(m.root, modified.rel), 'changed');
  rmSync(join(m.root, deleted.rel));
  rmSync(join(m.root, folder.rel), { recursive: true });
  mkdirSync(join(m.root, 'fresh'));
  writeFileSync(join(m.root, 'fresh', 'new.txt'), 'hello');

  const out = await core.command<{ job: string }>('location.rescan', { ref: id });
  t.is((await waitJob(core, out.result!.job)).state, 'completed');

  const info = await core.query<Info>('entry.info', { path: join(m.root, modified.rel) });
  t.is(info.size, modified.size + 7);
  t.is(info.contentId, await contentIdOf(join(m.root, modified.rel)));
  t.not(info.contentId, oldCid);
  const names = async (rel: string): Promise<string[]> =>
    (await core.query<{ entries: Listed[] }>('entry.ls', { path: join(m.root, rel) })).entries.map((e) => e.name);
  const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
  const base = (rel: string): string => rel.slice(rel.lastIndexOf('/') + 1);
  t.false((await names(parentOf(deleted.rel))).includes(base(deleted.rel)));
  t.false((await names(parentOf(folder.rel))).includes(base(folder.rel)));
  t.false(
    indexRows(core, id).some((r) => r.key.startsWith(`${folder.rel}/`)),
    'nothing below the deleted folder is left',
  );
  t.deepEqual(await names('fresh'), ['new.txt']);
  t.is(
    (await core.query<Info>('entry.info', { path: join(m.root, 'fresh', 'new.txt') })).contentId,
    await contentIdOf(join(m.root, 'fresh', 'new.txt')),
  );
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});

test('nested, parent, missing and relative locations are refused; remove drops entries, not files', async (t) => {
  const dir = tempDir(t);
  const m = generateTree(join(dir, 'tree'), { files: 300, folders: 20, seed: 10, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));
  const { id } = await addAndIndex(core, m.root);
  const sub = [...referenceTree(m.root).values()].find((e) => e.isDir)!;

  await t.throwsAsync(core.command('location.add', { path: join(m.root, sub.rel), watch: false }), {
    code: 'E_LOCATION_NESTED',
  });
  await t.throwsAsync(core.command('location.add', { path: dir, watch: false }), { code: 'E_LOCATION_NESTED' });
  await t.throwsAsync(core.command('location.add', { path: join(dir, 'nope'), watch: false }), {
    code: 'E_PATH_NOT_FOUND',
  });
  await t.throwsAsync(core.command('location.add', { path: 'tree', watch: false }), { code: 'E_BAD_INPUT' });
  t.is((await core.query<unknown[]>('location.list', {})).length, 1, 'no refused location was recorded');

  const onDisk = referenceTree(m.root).size;
  t.true(indexRows(core, id).length > 300);
  const out = await core.command('location.remove', { ref: id });
  t.true(out.verify!.ok);
  t.is(indexRows(core).length, 0, 'no entries are left in the index');
  t.deepEqual(await core.query('location.list', {}), []);
  await t.throwsAsync(core.query('entry.ls', { path: m.root }), { code: 'E_PATH_OUTSIDE_LOCATION' });
  t.true(existsSync(join(m.root, sub.rel)));
  t.is(referenceTree(m.root).size, onDisk, 'every file is still on disk');
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});

test('a scoped job resumed after its first scope was ignored, or removed, walks the scopes it began with', async (t) => {
  // The job's checkpoint points into its list of scopes (scopeIdx, cursor). Recomputed at the
  // resume, a list a .gitignore had changed put the cursor of `b` into `c`: b/f10-f19 and the
  // folder c were deleted from the index, all of them still on disk. A list a removed folder had
  // changed ([''] for [a, b, c]) ended the job before it walked c.
  const root = join(tempDir(t), 'repo');
  for (const d of ['a', 'b', 'c']) mkdirSync(join(root, d), { recursive: true });
  for (let i = 0; i < 20; i++)
    for (const d of ['a', 'b', 'c']) writeFileSync(join(root, d, `f${String(i).padStart(2, '0')}`), d + i);
  writeFileSync(join(root, '.gitignore'), '*.o\n');
  const core = await openCore(t, join(tempDir(t), 'data'));
  const { id: loc } = await addAndIndex(core, root, { rules: { gitignore: true } });
  const before = indexRows(core, loc).map((r) => r.key);
  t.is(before.length, 63);
  const lib = core.libraries.resolve();
  // Stopped inside `b` of [a, b, c], as a paused job's last checkpoint says.
  const checkpoint: IndexCheckpoint = {
    phase: 'walk',
    scopeIdx: 1,
    cursor: toKey('b/f09'),
    fresh: false,
    pendingNew: [],
    pendingGone: [],
    walked: 30,
    startSeq: lib.log.headOf(lib.log.deviceId).seq,
    scopes: ['a', 'b', 'c'],
  };
  writeFileSync(join(root, '.gitignore'), '*.o\na/\n');
  rmSync(join(root, 'a'), { recursive: true });
  writeFileSync(join(root, 'c/new.txt'), 'made while the job was paused');
  await runIndexJob(handJob(t, lib, { id: 'resumed', checkpoint, resumes: 1, input: { loc, scope: ['a', 'b', 'c'] } }));
  const after = indexRows(core, loc).map((r) => r.key);
  t.deepEqual(
    after.filter((k) => !k.startsWith('a')),
    [...before.filter((k) => !k.startsWith('a')), 'c/new.txt'].sort(),
    'b and c as they are on disk',
  );
});

test('a scoped rescan of a folder swapped for a symlink does not follow it: nothing outside the location is indexed', async (t) => {
  // A watch asks for a rescan of the folder a change was heard in; swapped for a symlink before
  // the job ran, that folder's walk followed it and indexed what it points to, under the location.
  const dir = tempDir(t);
  const root = join(dir, 'loc');
  mkdirSync(join(root, 'a/deeper'), { recursive: true });
  writeFileSync(join(root, 'a/deeper/mine.txt'), 'mine');
  mkdirSync(join(dir, 'outside/deeper'), { recursive: true });
  writeFileSync(join(dir, 'outside/deeper/secret.txt'), 'not in the location');
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc } = await addAndIndex(core, root);
  t.deepEqual(
    indexRows(core, loc).map((r) => r.key),
    ['a', 'a/deeper', 'a/deeper/mine.txt'],
  );
  rmSync(join(root, 'a'), { recursive: true });
  symlinkSync(join(dir, 'outside'), join(root, 'a'));
  const lib = core.libraries.resolve();
  const job = core.jobs.enqueue(lib, 'index', loc, { loc, scope: ['a', 'a/deeper'] }).id;
  t.is((await waitJob(core, job)).state, 'completed');
  t.deepEqual(
    indexRows(core, loc).map((r) => [r.key, r.t]),
    [['a', 2]],
    'the symlink itself, as its parent lists it',
  );
});
