// The recursive watch of a location, every way it is made on Linux (one inotify instance with a
// number per folder, its folders watched on the main thread or, for a large tree, on a thread of
// its own; and one fs.watch per folder where inotify through koffi is not available): one suite,
// every way, the hostile cases included.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { INLINE_FOLDERS, watchTree, type TreeWatch } from '../../src/actors/jobs/watch-tree.js';
import { skipperOf, WatchSet } from '../../src/actors/jobs/watch-set.js';
import { openInotify } from '../../src/actors/jobs/inotify.js';
import { Watches } from '../../src/actors/jobs/effects.js';
import { eventually, until } from '../support/until.js';
import { walkAll } from '../../src/jobs/walk.js';
import { tempDir } from './helpers.js';

/**
 * How long a test waits for what the watch must do (a liveness bound, not a speed target): its
 * threads start and scan on a machine that may be busy with other test files. At 10 s, three
 * tests ran out while a slow hour of this 2-core machine ran the whole suite (old code too).
 */
const WAIT_MS = 30_000;

interface Watched {
  root: string;
  heard: Set<string>;
  errors: Error[];
  tree: TreeWatch;
}

type How = 'inotify' | 'inotify on a thread' | 'fs.watch';
/** Hidden names skipped, as the daemon's default rules do (data, so a thread can take them). */
const HIDDEN = { skipNames: [], skipHidden: true, excluded: [] };

function watchedAs(t: ExecutionContext, how: How, root: string, skip: (rel: string) => boolean): Watched {
  const heard = new Set<string>();
  const errors: Error[] = [];
  // On a thread: only the root is watched here, every folder below it on the thread.
  const tree = watchTree(
    root,
    how === 'inotify on a thread' ? HIDDEN : skip,
    (rel) => heard.add(rel),
    (e) => errors.push(e),
    { inotify: how !== 'fs.watch', inline: how === 'inotify on a thread' ? 1 : undefined },
  );
  t.teardown(() => tree.close());
  return { root, heard, errors, tree };
}

async function watched(t: ExecutionContext, how: How, skip = (rel: string) => rel.startsWith('.')): Promise<Watched> {
  const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
  for (const d of ['a/deep', 'b', 'gone/inner', '.hidden']) mkdirSync(join(root, d), { recursive: true });
  const w = watchedAs(t, how, root, skip);
  await w.tree.ready();
  return w;
}

/** The inotify instances this process holds open (read by a serial test: no other test opens one meanwhile). */
const inotifyFds = (): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:inotify';
    } catch {
      return false;
    }
  }).length;

const hears = (w: Watched, rel: string): Promise<void> =>
  until(`a change at "${rel}"`, () => w.heard.has(rel), WAIT_MS, 10);

for (const how of ['inotify', 'inotify on a thread', 'fs.watch'] as const) {
  const inotify = how !== 'fs.watch';

  test(`${how}: files made, changed, renamed across folders and removed are heard at their paths`, async (t) => {
    const w = await watched(t, how);
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
    const w = await watched(t, how);
    mkdirSync(join(w.root, 'b/new/sub'), { recursive: true });
    await hears(w, 'b/new');
    await until('the new folders watched', () => w.tree.size === 8, WAIT_MS, 10);
    writeFileSync(join(w.root, 'b/new/sub/f'), 'x');
    await hears(w, 'b/new/sub/f');
    renameSync(join(w.root, 'b/new'), join(w.root, 'a/moved'));
    await hears(w, 'a/moved');
    await w.tree.ready(); // what is made below a folder is heard once the folder is watched
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
    const w = await watched(t, how);
    rmSync(join(w.root, 'gone'), { recursive: true });
    await hears(w, 'gone');
    await until('the removed folders let go', () => w.tree.size === 4, WAIT_MS, 10);
    mkdirSync(join(w.root, 'gone/inner'), { recursive: true });
    await until('the folders back', () => w.tree.size === 6, WAIT_MS, 10);
    writeFileSync(join(w.root, 'gone/inner/f'), 'x');
    await hears(w, 'gone/inner/f');
    t.deepEqual(w.errors, []);
  });

  test(`${how}: a folder replaced by a symlink, and a named pipe, are heard as changes and break nothing`, async (t) => {
    const w = await watched(t, how);
    const outside = join(w.root, '..', 'outside');
    mkdirSync(outside);
    rmSync(join(w.root, 'a'), { recursive: true });
    symlinkSync(outside, join(w.root, 'a'));
    execFileSync('mkfifo', [join(w.root, 'b/pipe')]);
    await hears(w, 'a');
    await hears(w, 'b/pipe');
    if (inotify) {
      // a symlink is not followed: what happens behind it is outside the location
      await until('the replaced folders let go', () => w.tree.size === 4, WAIT_MS, 10);
      writeFileSync(join(outside, 'behind'), 'x');
      t.false(await eventually(() => w.heard.has('a/behind'), 300, 10), 'nothing heard through the symlink');
    }
    writeFileSync(join(w.root, 'b/after'), 'x');
    await hears(w, 'b/after');
    t.deepEqual(w.errors, []);
  });

  test(`${how}: folders whose names are not UTF-8 are watched, and heard at the paths the walker gives them`, async (t) => {
    // Linux names are bytes: 'f\xffo' is not UTF-8, 'caf\xe9' is Latin-1, and a valid name that
    // starts with U+FFFD is escaped too (jobs/names.ts). Before the mend none of them was watched.
    const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
    const bytes = (...parts: (string | number[] | Buffer)[]): Buffer =>
      Buffer.concat(
        parts.map((p) => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))),
      );
    const old = bytes(root, '/', [0x66, 0xff, 0x6f]);
    mkdirSync(bytes(old, '/in'), { recursive: true });
    mkdirSync(join(root, '\uFFFDmark'));
    const w = watchedAs(t, how, root, (rel) => rel.startsWith('.'));
    await w.tree.ready();
    const made = bytes(root, '/caf', [0xe9]);
    writeFileSync(bytes(old, '/in/x.txt'), 'x');
    writeFileSync(join(root, '\uFFFDmark', 'y.txt'), 'y');
    mkdirSync(made);
    // The new folder is watched once its creation is heard: wait for it, then write in it.
    const { entries: before } = await walkAll(root, { skipHidden: true, skipNames: [] });
    const cafe = before.find((e) => e.isDir && e.relPath.startsWith('\uFFFDcaf'))!.relPath;
    await hears(w, cafe);
    writeFileSync(bytes(made, '/z.txt'), 'z');
    const { entries } = await walkAll(root, { skipHidden: true, skipNames: [] });
    const files = entries.filter((e) => !e.isDir).map((e) => e.relPath);
    t.deepEqual(files.sort(), ['\uFFFDcaf%E9/z.txt', '\uFFFDf%FFo/in/x.txt', '\uFFFD\uFFFDmark/y.txt']);
    for (const rel of files) await hears(w, rel);
    if (inotify) t.is(w.tree.size, 5, 'the root, the three folders and f\\xffo/in');
    t.deepEqual(w.errors, []);
  });

  test(`${how}: a hidden folder whose name is not UTF-8 is skipped by the location's rules, as the walk skips it`, async (t) => {
    // '.hid\xff' is '\uFFFD.hid%FF' in string form: hidden all the same (walk-plan.ts, isHidden).
    const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
    const raw = (name: number[]): Buffer => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(name)]);
    const hidOld = raw([0x2e, 0x68, 0xff]);
    mkdirSync(hidOld, { recursive: true });
    const w = watchedAs(t, how, root, skipperOf(HIDDEN));
    await w.tree.ready();
    const hidNew = raw([0x2e, 0x6e, 0xff]);
    mkdirSync(hidNew);
    writeFileSync(Buffer.concat([hidOld, Buffer.from('/in-old.txt')]), 'x');
    writeFileSync(join(root, 'visible.txt'), 'x');
    await hears(w, 'visible.txt');
    writeFileSync(Buffer.concat([hidNew, Buffer.from('/in-new.txt')]), 'x');
    writeFileSync(join(root, 'after.txt'), 'x');
    await hears(w, 'after.txt');
    t.deepEqual(
      [...w.heard].filter((r) => r.includes('\uFFFD')),
      [],
      'nothing heard in or of the hidden folders',
    );
    if (inotify) t.is(w.tree.size, 1, 'the root only');
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
    const w = await watched(t, how);
    w.tree.close();
    t.is(w.tree.size, 0);
    writeFileSync(join(w.root, 'late.txt'), 'x');
    t.false(await eventually(() => w.heard.size > 0, 300, 10), 'nothing heard after close');
  });
}

test('inotify: a folder whose move away went unheard is watched at its new path only', async (t) => {
  let hideDeep = false;
  const w = await watched(t, 'inotify', (rel) => rel.startsWith('.') || (hideDeep && rel === 'a/deep'));
  mkdirSync(join(w.root, 'a/deep/sub'));
  await until('a/deep/sub watched', () => w.tree.size === 7, WAIT_MS, 10);
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

/** A tree of `n` folders under `root` (n / 20 groups of 20), each with one file. */
function folders(root: string, n: number): string[] {
  const made: string[] = [];
  for (let i = 0; i < n; i++) {
    const rel = `g${Math.floor(i / 20)}/d${i % 20}`;
    mkdirSync(join(root, rel), { recursive: true });
    writeFileSync(join(root, rel, 'f'), 'x');
    made.push(rel);
  }
  return made;
}

test('inotify: a large tree is watched on a thread while the main thread goes on, and what changes meanwhile is heard after', async (t) => {
  const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
  const made = folders(root, 2_000);
  mkdirSync(join(root, '.hidden/inside'), { recursive: true });
  const w = watchedAs(t, 'inotify on a thread', root, () => t.fail('the rules are data'));
  // The call returns with the first folders watched: the rest does not hold the main thread.
  t.true(w.tree.size <= INLINE_FOLDERS, `only the first folders are watched here (${w.tree.size})`);
  // Made while the thread watches: the root's watch was added here, so this is queued, not lost.
  writeFileSync(join(root, 'during.txt'), 'x');
  await w.tree.ready();
  t.is(w.tree.size, 1 + 100 + made.length, 'the root, 100 groups, 2,000 folders; not .hidden');
  await hears(w, 'during.txt');
  writeFileSync(join(root, made.at(-1)!, 'late'), 'x');
  writeFileSync(join(root, made[0]!, 'early'), 'x');
  await hears(w, `${made.at(-1)}/late`);
  await hears(w, `${made[0]}/early`);
  writeFileSync(join(root, '.hidden/inside/x'), 'x');
  t.false(await eventually(() => [...w.heard].some((r) => r.startsWith('.hidden')), 300, 10));
  // A folder that held no folder (its link count said so, and it was not listed) is watched all
  // the same: one made in it is heard, then watched.
  mkdirSync(join(root, made[5]!, 'sub'));
  await hears(w, `${made[5]}/sub`);
  await until('the new folder watched', () => w.tree.size === 1 + 100 + made.length + 1, WAIT_MS, 10);
  writeFileSync(join(root, made[5]!, 'sub', 'f'), 'x');
  await hears(w, `${made[5]}/sub/f`);
  t.deepEqual(w.errors, []);
});

test('inotify: a large tree moved into a watched location is watched on a thread, and events after it wait their turn', async (t) => {
  const dir = tempDir(t, 'vdfs-watch-tree-');
  const root = join(dir, 'loc');
  mkdirSync(root);
  const made = folders(join(dir, 'elsewhere'), 1_000);
  const w = watchedAs(t, 'inotify on a thread', root, () => false);
  await w.tree.ready();
  t.is(w.tree.size, 1);
  renameSync(join(dir, 'elsewhere'), join(root, 'moved'));
  writeFileSync(join(root, 'after-the-move'), 'x');
  await hears(w, 'moved');
  await hears(w, 'after-the-move');
  await until('the moved folders watched', () => w.tree.size === 1 + 1 + 50 + made.length, WAIT_MS, 10);
  writeFileSync(join(root, 'moved', made.at(-1)!, 'g'), 'x');
  await hears(w, `moved/${made.at(-1)}/g`);
  t.deepEqual(w.errors, []);
});

test.serial(
  'inotify: a watch closed while its thread works ends the thread, then closes its instance; nothing is heard',
  async (t) => {
    const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
    folders(root, 2_000);
    const before = inotifyFds();
    const w = watchedAs(t, 'inotify on a thread', root, () => false);
    t.is(inotifyFds(), before + 1);
    w.tree.close();
    t.is(w.tree.size, 0);
    await w.tree.ready();
    await until('the instance closed', () => inotifyFds() === before, WAIT_MS, 10);
    writeFileSync(join(root, 'g0/d0/after'), 'x');
    t.false(await eventually(() => w.heard.size > 0, 300, 10), 'nothing heard after close');
    t.deepEqual(w.errors, []);
  },
);

test("a job of a watched location waits for its watch: Watches.ready settles when the tree's thread ends, or when the job is cancelled", async (t) => {
  const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
  folders(root, 2_000);
  const watches = new Watches();
  const w = watchedAs(t, 'inotify on a thread', root, () => false);
  watches.set('loc1', w.tree);
  const never = new AbortController();
  let settled = false;
  const ready = watches.ready('loc1', never.signal).then(() => (settled = true));
  t.true(w.tree.size < 2_000, 'still watching on the threads');
  // Bounded by the scan: until every folder is watched, the job's wait has not ended.
  while (!settled) {
    if (w.tree.size < 1 + 100 + 2_000) t.false(settled);
    await new Promise((r) => setTimeout(r, 1));
  }
  await ready;
  t.is(w.tree.size, 1 + 100 + 2_000, 'settled with every folder watched');
  // Another location's job, or one with no watch, does not wait.
  await watches.ready('other', never.signal);
  // A cancelled job stops waiting.
  const w2 = watchedAs(t, 'inotify on a thread', root, () => false);
  watches.set('loc2', w2.tree);
  const cancel = new AbortController();
  const waiting = watches.ready('loc2', cancel.signal);
  cancel.abort();
  await waiting;
  t.pass();
  // A watch let go is not waited on.
  watches.delete('loc2', w2.tree);
  w2.tree.close();
  await watches.ready('loc2', never.signal);
});

test('inotify: a location whose scanning threads hang (a hung file system) gives the next location its turn', async (t) => {
  // Its threads block in the kernel (opening a FIFO nobody writes to) and cannot be ended. Before,
  // the turn stayed with them, and no other large location was ever ready: its jobs waited too.
  const dir = tempDir(t, 'vdfs-watch-tree-');
  const [hung, next] = ['hung', 'next'].map((n) => join(dir, n)) as [string, string];
  for (const r of [hung, next]) folders(r, 300);
  const fifo = join(dir, 'stall');
  execFileSync('mkfifo', [fifo]);
  // Opening the FIFO to write lets its blocked readers go on (ENXIO when none waits).
  const release = (): void => {
    try {
      closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch {
      // no reader now
    }
  };
  const heard = new Set<string>();
  const a = watchTree(
    hung,
    HIDDEN,
    (rel) => heard.add(rel),
    () => undefined,
    { inline: 1, stallMs: 200, stall: fifo },
  );
  t.teardown(() => {
    a.close();
    release();
  });
  let aReady = false;
  void a.ready().then(() => (aReady = true));
  const b = watchedAs(t, 'inotify on a thread', next, () => false);
  let bReady = false;
  void b.tree.ready().then(() => (bReady = true));
  t.true(await eventually(() => bReady, WAIT_MS, 10), 'the next location is ready');
  t.is(b.tree.size, 1 + 15 + 300);
  t.false(aReady, 'the hung location is not ready');
  // Bounded: the readers may still be on their way to the FIFO.
  for (let i = 0; i < 200 && !aReady; i++) {
    release();
    await new Promise((r) => setTimeout(r, 50));
  }
  t.true(aReady, 'ready once its threads are back');
  t.is(a.size, 1 + 15 + 300);
  writeFileSync(join(hung, 'g14/d19/f2'), 'x');
  await until('a change in the once hung location', () => heard.has('g14/d19/f2'), WAIT_MS, 10);
});

test('inotify: three large locations watched at once take turns on the threads, and each ends with every folder watched', async (t) => {
  const dir = tempDir(t, 'vdfs-watch-tree-');
  const roots = ['one', 'two', 'three'].map((n) => join(dir, n));
  for (const r of roots) folders(r, 600);
  const ws = roots.map((r) => watchedAs(t, 'inotify on a thread', r, () => false));
  // The third closes before its turn: the turn passes on.
  ws[2]!.tree.close();
  await Promise.all(ws.map((w) => w.tree.ready()));
  t.deepEqual(
    ws.map((w) => w.tree.size),
    [1 + 30 + 600, 1 + 30 + 600, 0],
  );
  for (const w of ws.slice(0, 2)) writeFileSync(join(w.root, 'g29/d19/f2'), 'x');
  await Promise.all(ws.slice(0, 2).map((w) => hears(w, 'g29/d19/f2')));
  t.deepEqual([...ws[2]!.heard], []);
  // The turn the closed one passed on is free: a later scan gets it.
  const later = watchedAs(t, 'inotify on a thread', roots[2]!, () => false);
  await later.tree.ready();
  t.is(later.tree.size, 1 + 30 + 600);
});

test('inotify: what changes in a folder a thread has watched, while the threads still work, is heard once they are done', async (t) => {
  const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
  folders(root, 6_000);
  const w = watchedAs(t, 'inotify on a thread', root, () => false);
  // g0 is the first folder of the first thread: watched early in the scan. Writes go on until
  // the scan ends, so the last ones fall after its watch and before the threads' numbers are back.
  let n = 0;
  let over = false;
  const done = w.tree.ready().then(() => (over = true));
  while (!over) {
    writeFileSync(join(root, 'g0', `w${n++}`), 'x');
    await new Promise((r) => setTimeout(r, 2));
  }
  await done;
  await until('a write made during the scan heard', () => [...w.heard].some((r) => /^g0\/w\d+$/.test(r)), WAIT_MS, 10);
  t.true(n > 1, `${n} writes during the scan`);
  t.deepEqual(w.errors, []);
});

for (const failure of ['fail', 'no-start'] as const) {
  test.serial(
    `inotify: when the scanning threads ${failure === 'fail' ? 'fail' : 'cannot start'}, the main thread watches their part and keeps its own`,
    async (t) => {
      const root = join(tempDir(t, 'vdfs-watch-tree-'), 'loc');
      const made = folders(root, 600);
      process.env.SD_TEST_WATCH_THREAD = failure;
      let w: Watched;
      try {
        w = watchedAs(t, 'inotify on a thread', root, () => false);
        await w.tree.ready();
      } finally {
        delete process.env.SD_TEST_WATCH_THREAD;
      }
      t.is(w.tree.size, 1 + 30 + made.length);
      writeFileSync(join(root, 'top.txt'), 'x');
      writeFileSync(join(root, made.at(-1)!, 'deep.txt'), 'x');
      await hears(w, 'top.txt');
      await hears(w, `${made.at(-1)}/deep.txt`);
      // The next scan gets the threads' turn.
      const later = watchedAs(t, 'inotify on a thread', root, () => false);
      await later.tree.ready();
      t.is(later.tree.size, 1 + 30 + made.length);
    },
  );
}

/** A watch that keeps only 5 events while its threads work (every folder below the root is theirs). */
function losing(t: ExecutionContext, root: string): { heard: Set<string>; w: TreeWatch } {
  const heard = new Set<string>();
  const w = watchTree(
    root,
    HIDDEN,
    (rel) => heard.add(rel),
    (e) => t.fail(e.message),
    { inline: 1, maxDeferred: 5 },
  );
  t.teardown(() => w.close());
  return { heard, w };
}

test('inotify: more events while the threads work than are kept is a change of the whole location, and every folder is listed again', async (t) => {
  const dir = tempDir(t, 'vdfs-watch-tree-');
  const root = join(dir, 'loc');
  folders(root, 2_000);
  const { heard, w } = losing(t, root);
  // The root was listed before the threads started: a folder made in it now is found only by its
  // event (one of those lost) or by listing the root again.
  mkdirSync(join(root, 'made-during'));
  for (let i = 0; i < 20; i++) writeFileSync(join(root, `f${i}`), 'x');
  await w.ready();
  await until('the whole location reported', () => heard.has(''), WAIT_MS, 10);
  await until('the folder made meanwhile watched', () => w.size === 1 + 100 + 2_000 + 1, WAIT_MS, 10);
  writeFileSync(join(root, 'made-during', 'inside'), 'x');
  t.true(await eventually(() => heard.has('made-during/inside'), WAIT_MS, 10), 'a change in it heard');
});

test('inotify: a folder removed and made again while events are lost is watched again, not kept under its dead number', async (t) => {
  const dir = tempDir(t, 'vdfs-watch-tree-');
  const big = join(dir, 'big');
  folders(big, 6_000);
  const loc = join(dir, 'loc');
  folders(loc, 40);
  const { heard, w } = losing(t, loc);
  await w.ready();
  const other = watchTree(
    big,
    HIDDEN,
    () => undefined,
    (e) => t.fail(e.message),
  ); // holds the threads' turn
  t.teardown(() => other.close());
  // A folder moved in: its scan waits for the turn, and the location's events wait with it.
  mkdirSync(join(dir, 'new/a'), { recursive: true });
  renameSync(join(dir, 'new'), join(loc, 'new'));
  await until('the move heard', () => heard.has('new'), WAIT_MS, 10);
  rmSync(join(loc, 'g0'), { recursive: true }); // its IN_IGNORED is among the events lost
  for (let i = 0; i < 10; i++) writeFileSync(join(loc, `f${i}`), 'x');
  mkdirSync(join(loc, 'g0'));
  await other.ready();
  await w.ready();
  await until('the lost events reported as a change of the whole location', () => heard.has(''), WAIT_MS, 10);
  await w.ready();
  heard.clear();
  writeFileSync(join(loc, 'g0', 'later.txt'), 'x');
  t.true(await eventually(() => heard.has('g0/later.txt'), WAIT_MS, 10), 'a change in the remade folder heard');
  t.is(w.size, 1 + 2 + 20 + 2, 'the root, g0 (remade, empty), g1 and its 20, new and new/a');
});
