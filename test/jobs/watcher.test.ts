// A watched location stays current without a manual rescan: single changes show up in the index
// within 2 s, and a burst of 10,000 new files is coalesced into a handful of jobs. Serial, so
// the burst does not compete with the latency measurement for this machine's CPU.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import type { Core } from '../../src/core.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { openCore } from '../helpers.js';
import { indexRows, waitFor, waitJob, type JobInfo } from '../fixtures-child/util.js';
import { tempDir } from './helpers.js';

interface Info {
  size: number;
  contentId: string | null;
  isDir: boolean;
}

async function watched(t: ExecutionContext, files: number): Promise<{ core: Core; root: string; loc: string }> {
  const dir = tempDir(t);
  const m = generateTree(join(dir, 'tree'), {
    files,
    folders: Math.max(1, files / 25),
    seed: 41,
    extras: false,
    sparseFiles: 0,
  });
  const core = await openCore(t, join(dir, 'data'));
  const out = await core.command<{ id: string; job: string }>('location.add', { path: m.root });
  t.is((await waitJob(core, out.result!.job)).state, 'completed');
  t.like((await core.query<{ watching: boolean }[]>('location.list', {}))[0], { watching: true });
  return { core, root: m.root, loc: out.result!.id };
}

const info = (core: Core, path: string): Promise<Info | undefined> =>
  core.query<Info>('entry.info', { path }).catch(() => undefined);

/** Milliseconds from now until cond() holds, polling the index every 10 ms (bounded at 10 s). */
async function latency(cond: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  await waitFor('the change to reach the index', cond, 10_000, 10);
  return Math.round(performance.now() - t0);
}

test.serial('a watched location reflects create, modify, rename and delete within 2 s', async (t) => {
  const { core, root } = await watched(t, 400);
  const file = join(root, 'note.txt');

  writeFileSync(file, 'first version');
  const created = await latency(async () => (await info(core, file))?.contentId === (await contentIdOf(file)));
  t.log(`create: ${created} ms`);
  t.true(created < 2000, `create took ${created} ms`);

  appendFileSync(file, ', and more');
  const want = await contentIdOf(file);
  const size = statSync(file).size;
  t.is(size, 23);
  const modified = await latency(async () => {
    const i = await info(core, file);
    return i?.size === size && i.contentId === want;
  });
  t.log(`modify: ${modified} ms`);
  t.true(modified < 2000, `modify took ${modified} ms`);

  mkdirSync(join(root, 'sub'));
  const renamedTo = join(root, 'sub', 'renamed.txt');
  renameSync(file, renamedTo);
  const renamed = await latency(
    async () => (await info(core, renamedTo))?.contentId === want && (await info(core, file)) === undefined,
  );
  t.log(`rename into a new folder: ${renamed} ms`);
  t.true(renamed < 2000, `rename took ${renamed} ms`);

  rmSync(renamedTo);
  const deleted = await latency(async () => (await info(core, renamedTo)) === undefined);
  t.log(`delete: ${deleted} ms`);
  t.true(deleted < 2000, `delete took ${deleted} ms`);

  rmSync(join(root, 'sub'), { recursive: true });
  const dirGone = await latency(async () => (await info(core, join(root, 'sub'))) === undefined);
  t.true(dirGone < 2000, `folder delete took ${dirGone} ms`);
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});

// Written by another process at full speed (like an unpacked archive), not by this event loop.
const BURST = `
const { mkdirSync, writeFileSync } = require('node:fs');
const root = process.argv[1];
for (let d = 0; d < 20; d++) {
  mkdirSync(root + '/burst-' + d);
  for (let f = 0; f < 500; f++) writeFileSync(root + '/burst-' + d + '/f' + f + '.txt', 'file ' + d + '/' + f);
}`;

test.serial('a burst of 10,000 new files is coalesced into few jobs and all of them get indexed', async (t) => {
  const { core, root, loc } = await watched(t, 200);
  const jobsBefore = new Set((await core.query<JobInfo[]>('job.list', { limit: 10_000 })).map((j) => j.id));

  const writer = spawn(process.execPath, ['-e', BURST, root], { stdio: 'ignore' });
  t.teardown(() => {
    if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
  });
  const code = await new Promise<number | null>((r) => writer.on('exit', r));
  t.is(code, 0);

  const inBurst = () =>
    indexRows(core, loc).filter((r) => r.key.startsWith('burst-') && r.t === 0 && r.cid !== null).length;
  await waitFor('10,000 files to be indexed', () => inBurst() === 10_000, 60_000, 50);
  // Let the last jobs settle, then count every job the burst caused.
  await waitFor(
    'jobs to settle',
    async () =>
      (await core.query<JobInfo[]>('job.list', { limit: 10_000 })).every((j) =>
        ['completed', 'failed', 'cancelled'].includes(j.state),
      ),
    30_000,
  );
  const jobs = (await core.query<JobInfo[]>('job.list', { limit: 10_000 })).filter((j) => !jobsBefore.has(j.id));
  t.log(`${jobs.length} index jobs for 10,000 new files`);
  t.true(jobs.length >= 1);
  t.true(jobs.length < 20, `${jobs.length} jobs`);
  t.true(jobs.every((j) => j.state === 'completed'));
  t.is(inBurst(), 10_000);
  const { entries } = await core.query<{ entries: { name: string; files: number }[] }>('entry.ls', { path: root });
  t.is(entries.filter((e) => e.name.startsWith('burst-')).length, 20);
  t.true(
    entries.filter((e) => e.name.startsWith('burst-')).every((e) => e.files === 500),
    'folder counts aggregated',
  );
});

test.serial('a watched location indexes what is made in folders whose names are not UTF-8', async (t) => {
  // Names are bytes on Linux: 'f\xffo' is not UTF-8. The index holds it in its string form
  // (jobs/names.ts), and so must the watch, or nothing made in it afterwards reached the index.
  const { core, root } = await watched(t, 50);
  const raw = Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x66, 0xff, 0x6f])]);
  mkdirSync(raw);
  await waitFor('the new folder indexed', async () => indexRows(core).some((r) => r.key === '\uFFFDf%FFo'), 10_000, 10);
  writeFileSync(Buffer.concat([raw, Buffer.from('/late.txt')]), 'made after its folder');
  const want = await contentIdOf(Buffer.concat([raw, Buffer.from('/late.txt')]));
  await waitFor(
    'the file made in it indexed with its content id',
    async () => indexRows(core).some((r) => r.key === '\uFFFDf%FFo/late.txt' && r.cid === want),
    10_000,
    10,
  );
  mkdirSync(Buffer.concat([raw, Buffer.from('/sub')]));
  writeFileSync(Buffer.concat([raw, Buffer.from('/sub/deeper.txt')]), 'deeper');
  await waitFor(
    'a file in a folder made inside it indexed',
    async () => indexRows(core).some((r) => r.key === '\uFFFDf%FFo/sub/deeper.txt'),
    10_000,
    10,
  );
  t.deepEqual(
    indexRows(core)
      .filter((r) => r.key.startsWith('\uFFFD'))
      .map((r) => r.key),
    ['\uFFFDf%FFo', '\uFFFDf%FFo/late.txt', '\uFFFDf%FFo/sub', '\uFFFDf%FFo/sub/deeper.txt'],
  );
});

test.serial(
  'a hidden folder whose name is not UTF-8 stays out of the index of a watched location, as the walk leaves it out',
  async (t) => {
    // '.hid\xff' is hidden (its string form is '\uFFFD.hid%FF'): the watch once took it for a plain
    // name, and a change in it rescanned it as a scope, which indexed what it held.
    const { core, root, loc } = await watched(t, 50);
    const hid = Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x2e, 0x68, 0x69, 0x64, 0xff])]);
    mkdirSync(hid);
    writeFileSync(Buffer.concat([hid, Buffer.from('/secret.txt')]), 'secret');
    mkdirSync(Buffer.concat([hid, Buffer.from('/deep')]));
    writeFileSync(Buffer.concat([hid, Buffer.from('/deep/d.txt')]), 'd');
    writeFileSync(join(root, 'visible.txt'), 'visible');
    await waitFor(
      'the visible file indexed',
      async () => indexRows(core).some((r) => r.key === 'visible.txt'),
      10_000,
      10,
    );
    // A scoped rescan of the hidden folder itself (what its change used to ask for) indexes nothing.
    const lib = core.libraries.resolve();
    const job = core.jobs.enqueue(lib, 'index', loc, { loc, scope: ['\uFFFD.hid%FF', '\uFFFD.hid%FF/deep'] }).id;
    t.is((await waitJob(core, job)).state, 'completed');
    t.deepEqual(
      indexRows(core)
        .map((r) => r.key)
        .filter((k) => k.includes('hid')),
      [],
    );
  },
);

/** A repository-like tree (`files`: relative path -> content), watched with .gitignore rules. */
async function watchedRepo(
  t: ExecutionContext,
  files: Record<string, string>,
): Promise<{ core: Core; root: string; loc: string; keys: () => string[] }> {
  const root = join(tempDir(t), 'repo');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  const core = await openCore(t, join(tempDir(t), 'data'));
  const out = await core.command<{ id: string; job: string }>('location.add', {
    path: root,
    rules: { gitignore: true },
  });
  t.is((await waitJob(core, out.result!.job)).state, 'completed');
  return { core, root, loc: out.result!.id, keys: () => indexRows(core).map((r) => r.key) };
}

test.serial(
  'with .gitignore rules, a change in an ignored folder indexes nothing, and a scoped rescan applies the .gitignore files above it',
  async (t) => {
    // The watch reads no .gitignore: a change in `build/` asked for a rescan of `build`, whose walk
    // read no .gitignore above it, and indexed what the location's own walk leaves out.
    const { core, root, loc, keys } = await watchedRepo(t, {
      '.gitignore': 'build/\n*.o\nsrc/deep/*.log\n',
      'src/.gitignore': '*.tmp\n',
      'build/old.bin': 'o',
      'src/main.c': 'c',
      'src/deep/.keep': '',
    });
    t.deepEqual(keys(), ['src', 'src/deep', 'src/main.c'], 'hidden names (the .gitignore files) are skipped too');
    writeFileSync(join(root, 'build/new.bin'), 'n');
    writeFileSync(join(root, 'src/deep/x.o'), 'o');
    writeFileSync(join(root, 'src/deep/y.tmp'), 't');
    writeFileSync(join(root, 'src/deep/z.log'), 'a pattern with a slash, relative to its .gitignore');
    writeFileSync(join(root, 'src/deep/kept.c'), 'k');
    await waitFor('the kept file indexed', async () => keys().includes('src/deep/kept.c'), 10_000, 10);
    // A scoped rescan of the ignored folder itself, as its change used to ask for.
    const lib = core.libraries.resolve();
    const job = core.jobs.enqueue(lib, 'index', loc, { loc, scope: ['build'] }).id;
    t.is((await waitJob(core, job)).state, 'completed');
    t.deepEqual(keys(), ['src', 'src/deep', 'src/deep/kept.c', 'src/main.c']);
  },
);

test.serial(
  'with .gitignore rules, a .gitignore written or removed is heard: what it ignores leaves the index, and comes back',
  async (t) => {
    // A .gitignore is a hidden name, and the watch skipped it: nothing rescanned the folder, and
    // what was indexed before it said otherwise stayed (also once deleted on disk).
    const repo = await watchedRepo(t, { 'build/old.bin': 'o', 'main.c': 'c' });
    const { root } = repo;
    const keys = (): string => repo.keys().join(' ');
    t.is(keys(), 'build build/old.bin main.c');
    writeFileSync(join(root, '.gitignore'), 'build/\n');
    await waitFor('build/ out of the index', async () => keys() === 'main.c', 10_000, 10);
    rmSync(join(root, '.gitignore'));
    await waitFor('build/ back in the index', async () => keys() === 'build build/old.bin main.c', 10_000, 10);
    t.is(keys(), 'build build/old.bin main.c');
  },
);
