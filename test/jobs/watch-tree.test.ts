// The recursive watch of a location, both ways it is made on Linux (one inotify instance with a
// number per folder, and one fs.watch per folder where inotify through koffi is not available):
// one suite, both implementations, the hostile cases included.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchTree, type TreeWatch } from '../../src/actors/jobs/watch-tree.js';
import { openInotify } from '../../src/actors/jobs/inotify.js';
import { eventually, until } from '../support/until.js';
import { tempDir } from './helpers.js';

interface Watched {
  root: string;
  heard: Set<string>;
  errors: Error[];
  tree: TreeWatch;
}

function watched(t: ExecutionContext, inotify: boolean, skip = (rel: string) => rel.startsWith('.')): Watched {
  const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
  for (const d of ['a/deep', 'b', 'gone/inner', '.hidden']) mkdirSync(join(root, d), { recursive: true });
  const heard = new Set<string>();
  const errors: Error[] = [];
  const tree = watchTree(
    root,
    skip,
    (rel) => heard.add(rel),
    (e) => errors.push(e),
    { inotify },
  );
  t.teardown(() => tree.close());
  return { root, heard, errors, tree };
}

const hears = (w: Watched, rel: string): Promise<void> =>
  until(`a change at "${rel}"`, () => w.heard.has(rel), 10_000, 10);

for (const inotify of [true, false]) {
  const how = inotify ? 'inotify' : 'fs.watch';

  test(`${how}: files made, changed, renamed across folders and removed are heard at their paths`, async (t) => {
    const w = watched(t, inotify);
    t.is(w.tree.size, 6, 'the root, a, a/deep, b, gone, gone/inner; not .hidden');
    writeFileSync(join(w.root, 'a/deep/f.txt'), 'one');
    await hears(w, 'a/deep/f.txt');
    renameSync(join(w.root, 'a/deep/f.txt'), join(w.root, 'b/g.txt'));
    await hears(w, 'b/g.txt');
    w.heard.clear();
    rmSync(join(w.root, 'b/g.txt'));
    await hears(w, 'b/g.txt');
    writeFileSync(join(w.root, '.hidden/x'), 'skipped');
    writeFileSync(join(w.root, 'top.txt'), 'x');
    await hears(w, 'top.txt');
    t.false(
      [...w.heard].some((r) => r.startsWith('.hidden')),
      'a skipped folder is not watched',
    );
    t.deepEqual(w.errors, []);
  });

  test(`${how}: a folder made, or moved across folders, is watched at its new path with what it holds`, async (t) => {
    const w = watched(t, inotify);
    mkdirSync(join(w.root, 'b/new/sub'), { recursive: true });
    await hears(w, 'b/new');
    await until('the new folders watched', () => w.tree.size === 8, 10_000, 10);
    writeFileSync(join(w.root, 'b/new/sub/f'), 'x');
    await hears(w, 'b/new/sub/f');
    renameSync(join(w.root, 'b/new'), join(w.root, 'a/moved'));
    await hears(w, 'a/moved');
    w.heard.clear();
    writeFileSync(join(w.root, 'a/moved/sub/g'), 'x');
    await hears(w, 'a/moved/sub/g');
    t.false(
      [...w.heard].some((r) => r.startsWith('b/new')),
      `nothing heard at the old path: ${[...w.heard]}`,
    );
    t.is(w.tree.size, 8);
  });

  test(`${how}: a folder removed while watched is let go, and watched again when it comes back`, async (t) => {
    const w = watched(t, inotify);
    rmSync(join(w.root, 'gone'), { recursive: true });
    await hears(w, 'gone');
    await until('the removed folders let go', () => w.tree.size === 4, 10_000, 10);
    mkdirSync(join(w.root, 'gone/inner'), { recursive: true });
    await until('the folders back', () => w.tree.size === 6, 10_000, 10);
    writeFileSync(join(w.root, 'gone/inner/f'), 'x');
    await hears(w, 'gone/inner/f');
    t.deepEqual(w.errors, []);
  });

  test(`${how}: a folder replaced by a symlink, and a named pipe, are heard as changes and break nothing`, async (t) => {
    const w = watched(t, inotify);
    const outside = join(w.root, '..', 'outside');
    mkdirSync(outside);
    rmSync(join(w.root, 'a'), { recursive: true });
    symlinkSync(outside, join(w.root, 'a'));
    execFileSync('mkfifo', [join(w.root, 'b/pipe')]);
    await hears(w, 'a');
    await hears(w, 'b/pipe');
    if (inotify) {
      // a symlink is not followed: what happens behind it is outside the location
      await until('the replaced folders let go', () => w.tree.size === 4, 10_000, 10);
      writeFileSync(join(outside, 'behind'), 'x');
      t.false(await eventually(() => w.heard.has('a/behind'), 300, 10), 'nothing heard through the symlink');
    }
    writeFileSync(join(w.root, 'b/after'), 'x');
    await hears(w, 'b/after');
    t.deepEqual(w.errors, []);
  });

  test(`${how}: a location that is not there is a watch error; a closed watch hears nothing`, async (t) => {
    const dir = tempDir(t, 'vdfs-watch-tree-');
    const errors: Error[] = [];
    const missing = watchTree(
      join(dir, 'nope'),
      () => false,
      () => t.fail('no change'),
      (e) => errors.push(e),
      {
        inotify,
      },
    );
    t.teardown(() => missing.close());
    t.is(errors.length, 1);
    t.is(missing.size, 0);
    const w = watched(t, inotify);
    w.tree.close();
    t.is(w.tree.size, 0);
    writeFileSync(join(w.root, 'late.txt'), 'x');
    t.false(await eventually(() => w.heard.size > 0, 300, 10), 'nothing heard after close');
  });
}

test('inotify: a folder whose move away went unheard is watched at its new path only', async (t) => {
  let hideDeep = false;
  const w = watched(t, true, (rel) => rel.startsWith('.') || (hideDeep && rel === 'a/deep'));
  mkdirSync(join(w.root, 'a/deep/sub'));
  await until('a/deep/sub watched', () => w.tree.size === 7, 10_000, 10);
  hideDeep = true; // the move away from a/deep is not heard: a/deep's watch (the folder's) stays
  renameSync(join(w.root, 'a/deep'), join(w.root, 'b/deep'));
  await hears(w, 'b/deep');
  hideDeep = false;
  w.heard.clear();
  writeFileSync(join(w.root, 'b/deep/sub/f'), 'x');
  await hears(w, 'b/deep/sub/f');
  t.false(
    [...w.heard].some((r) => r.startsWith('a/deep')),
    `nothing heard at the old path: ${[...w.heard]}`,
  );
  t.is(w.tree.size, 7);
});

test('inotify is reachable on this Linux machine (koffi installed), so the daemon does not fall back', (t) => {
  const ino = openInotify(() => undefined);
  t.truthy(ino);
  ino?.close();
});
