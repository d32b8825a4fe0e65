// Symlink swaps between preview and commit, and between two steps of a commit, made
// deterministic by the daemon's test hook (SD_TEST_PAUSE_AT): through the real daemon and CLI,
// the command fails with E_PATH_CHANGED and nothing outside the location changes. Serial: the
// helpers wait with spawnSync, which would stall another test's poll while its daemon waits at a
// pause point (a loaded machine made that wait run out, and the command went on unswapped).
import test, { type ExecutionContext } from 'ava';
import { statSync } from 'node:fs';
import { existsSync, mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { Daemon, pausedAt } from './daemon-helpers.js';

interface World {
  d: Daemon;
  root: string;
  out: string;
  pause: string;
}

function fill(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}`);
}

/** A daemon paused at `at`, one location, and a folder outside every location holding 50 files. */
function world(t: ExecutionContext, at: string, umask?: string): World {
  const base = tempDir(t, 'sd-race-');
  const root = join(base, 'loc');
  const out = join(base, 'outside');
  const pause = join(base, 'pause');
  mkdirSync(pause);
  fill(join(root, 'a', 'b'), 50);
  fill(join(root, 'src'), 30);
  mkdirSync(join(root, 'dst'));
  fill(join(root, 'x'), 3);
  fill(join(root, 'y', 'z'), 3);
  fill(join(out, 'b'), 50);
  fill(join(out, 'z'), 3);
  const d = new Daemon(t, join(base, 'data'), { SD_TEST_PAUSE_DIR: pause, SD_TEST_PAUSE_AT: at }, umask);
  t.is(d.start().code, 0);
  const add = d.sd('location', 'add', root, '--no-watch', '--wait');
  t.is(add.code, 0, add.err);
  return { d, root, out, pause };
}

const outsideIntact = (t: ExecutionContext, w: World): void => {
  t.is(readdirSync(join(w.out, 'b')).length, 50, 'the 50 files outside are all there');
  t.is(readdirSync(join(w.out, 'z')).length, 3);
  t.deepEqual(readdirSync(w.out).sort(), ['b', 'z'], 'nothing was moved out of the location');
};

test.serial(
  'rm --permanent: a parent folder swapped for a symlink to outside after the preview: E_PATH_CHANGED, nothing outside deleted',
  async (t) => {
    const w = world(t, 'commit');
    const run = w.d.sdAsync('--json', 'rm', '--permanent', '--yes', join(w.root, 'a', 'b'));
    const release = await pausedAt(w.pause, 'commit');
    renameSync(join(w.root, 'a'), join(w.root, 'a-real'));
    symlinkSync(w.out, join(w.root, 'a'));
    release();
    const r = await run;
    t.is(r.code, 1, r.out);
    t.is(Daemon.code(r), 'E_PATH_CHANGED', r.out);
    outsideIntact(t, w);
    t.is(readdirSync(join(w.root, 'a-real', 'b')).length, 50, 'and the folder itself is untouched');
    t.true(w.d.json<{ equal: boolean }>('replay', '--check').equal);
  },
);

test.serial('rm --permanent: the folder itself swapped for a symlink after the preview: E_PATH_CHANGED', async (t) => {
  const w = world(t, 'commit');
  const run = w.d.sdAsync('--json', 'rm', '--permanent', '--yes', join(w.root, 'a', 'b'));
  const release = await pausedAt(w.pause, 'commit');
  renameSync(join(w.root, 'a', 'b'), join(w.root, 'b-real'));
  symlinkSync(join(w.out, 'b'), join(w.root, 'a', 'b'));
  release();
  const r = await run;
  t.is(Daemon.code(r), 'E_PATH_CHANGED', r.out);
  outsideIntact(t, w);
});

test.serial(
  'mv: the destination swapped for a symlink to outside after the preview: nothing leaves the location',
  async (t) => {
    const w = world(t, 'commit');
    const run = w.d.sdAsync('--json', 'mv', join(w.root, 'src'), join(w.root, 'dst'));
    const release = await pausedAt(w.pause, 'commit');
    renameSync(join(w.root, 'dst'), join(w.root, 'dst-real'));
    symlinkSync(w.out, join(w.root, 'dst'));
    release();
    const r = await run;
    t.is(Daemon.code(r), 'E_PATH_CHANGED', r.out);
    outsideIntact(t, w);
    t.is(readdirSync(join(w.root, 'src')).length, 30, 'the source stayed where it was');
  },
);

test.serial(
  'a swap between two steps of one commit: the first step done, the second refused, outside intact, index = log',
  async (t) => {
    const w = world(t, 'step-0');
    const run = w.d.sdAsync('--json', 'rm', '--permanent', '--yes', join(w.root, 'x'), join(w.root, 'y', 'z'));
    const release = await pausedAt(w.pause, 'step-0');
    t.false(existsSync(join(w.root, 'x')), 'step 0 ran');
    renameSync(join(w.root, 'y'), join(w.root, 'y-real'));
    symlinkSync(w.out, join(w.root, 'y'));
    release();
    const r = await run;
    t.is(Daemon.code(r), 'E_PATH_CHANGED', r.out);
    outsideIntact(t, w);
    t.true(w.d.json<{ equal: boolean }>('replay', '--check').equal, 'the projection matches the log');
    const ls = w.d.json<{ entries: { name: string }[] }>('ls', w.root);
    t.false(
      ls.entries.some((e) => e.name === 'x'),
      'the index knows x is gone',
    );
  },
);

test.serial('the trash as a symlink is never followed: rm refuses, trash empty refuses, outside intact', async (t) => {
  const w = world(t, 'none');
  symlinkSync(w.out, join(w.root, '.vdfs-trash'));
  const r = w.d.sd('--json', 'rm', join(w.root, 'x', 'f0.txt'));
  t.is(Daemon.code(r), 'E_TRASH_NOT_A_FOLDER', r.out);
  t.true(existsSync(join(w.root, 'x', 'f0.txt')));
  outsideIntact(t, w);
  // A real trash, swapped for a link after items went into it: emptying does not follow it.
  renameSync(join(w.root, '.vdfs-trash'), join(w.root, 'old-link'));
  t.is(w.d.sd('rm', join(w.root, 'x', 'f1.txt')).code, 0);
  renameSync(join(w.root, '.vdfs-trash'), join(w.root, 'trash-real'));
  symlinkSync(w.out, join(w.root, '.vdfs-trash'));
  const e = w.d.sd('--json', 'trash', 'empty', '--yes');
  t.is(Daemon.code(e), 'E_PATH_CHANGED', e.out);
  outsideIntact(t, w);
});

test.serial('the trash is a real folder, mode 0700 under umask 000; its list is a projection of the log', async (t) => {
  const w = world(t, 'none', '000');
  t.is(w.d.sd('rm', join(w.root, 'x', 'f0.txt')).code, 0);
  t.is(statSync(join(w.root, '.vdfs-trash')).mode & 0o777, 0o700);
  const [item] = readdirSync(join(w.root, '.vdfs-trash'));
  t.is(statSync(join(w.root, '.vdfs-trash', item!)).mode & 0o777, 0o700);
  const list = w.d.json<{ originalPath: string }[]>('trash', 'list');
  t.deepEqual(
    list.map((l) => l.originalPath),
    [join(w.root, 'x', 'f0.txt')],
  );
  type Sums = { tables: Record<string, { rows: number }> };
  const check = w.d.json<{ equal: boolean; live: Sums; rebuilt: Sums }>('replay', '--check');
  t.true(check.equal);
  t.is(check.rebuilt.tables['trash_items']?.rows, 1, 'the trash list is rebuilt from the log alone');
  const log = w.d.json<{ type: string }[] | { events: { type: string }[] }>('log', '--type', 'trash.added');
  t.true(JSON.stringify(log).includes('trash.added'), 'a signed trash.added event carries the record');
});

test.serial('recovery after a swap made while the daemon was down acts on nothing outside', async (t) => {
  const base = tempDir(t, 'sd-race-');
  const root = join(base, 'loc');
  const out = join(base, 'outside');
  fill(join(root, 'x'), 3);
  fill(join(root, 'y', 'z'), 3);
  fill(join(out, 'z'), 3);
  const data = join(base, 'data');
  const crashing = new Daemon(t, data, { SD_CRASH_AT: 'mid-fs' });
  t.is(crashing.start().code, 0);
  t.is(crashing.sd('location', 'add', root, '--no-watch', '--wait').code, 0);
  const r = crashing.sd('rm', '--permanent', '--yes', join(root, 'x'), join(root, 'y', 'z'));
  t.not(r.code, 0, 'the daemon died mid-commit');
  t.false(existsSync(join(root, 'x')), 'after the first step');
  // While it is down, a folder on the way of the second step becomes a link to outside.
  renameSync(join(root, 'y'), join(root, 'y-real'));
  symlinkSync(out, join(root, 'y'));
  const d = new Daemon(t, data);
  t.is(d.start().code, 0, 'recovery at start does not stop the daemon');
  t.is(readdirSync(join(out, 'z')).length, 3, 'the folder outside was not deleted by recovery');
  t.is(readdirSync(join(root, 'y-real', 'z')).length, 3);
  t.true(d.json<{ equal: boolean }>('replay', '--check').equal);
});
