// A preview reads only: typed so (each write in the block at the end is refused by the compiler,
// and an expect-error directive that is not needed fails the build), and so at run time through
// the real Core: a dry run of each kind of command leaves the log, the tables and the disk as they were.
import test from 'ava';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../src/errors.js';
import { check, defineCommand } from '../../src/ops/define.js';
import { openCore, tempDir } from '../helpers.js';
import type { Core } from '../../src/core.js';

function snapshot(core: Core) {
  const lib = core.libraries.resolve();
  lib.flush();
  const n = (table: string): number => (lib.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  return {
    events: lib.log.count(),
    tags: n('tags'),
    locations: n('locations'),
    intents: n('intents'),
    jobs: n('jobs'),
    libraries: core.libraries.list().map((l) => core.libraries.nameOf(l.id)),
    device: core.device.name,
    // Rows this connection changed since it opened: a write in a preview would move it.
    changes: (lib.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n,
  };
}

test('a dry run of each kind of command changes nothing: log, tables, libraries, device name, files', async (t) => {
  const core = await openCore(t);
  const root = tempDir(t);
  const files = join(root, 'files');
  const other = join(root, 'other');
  mkdirSync(files);
  mkdirSync(other);
  writeFileSync(join(files, 'a.txt'), 'a');
  await core.command('tag.create', { name: 'keep' });
  await core.command('location.add', { path: files, watch: false });
  const before = snapshot(core);
  const dryRuns: [string, unknown][] = [
    ['tag.create', { name: 'new' }],
    ['tag.rename', { tag: 'keep', name: 'kept' }],
    ['tag.delete', { tag: 'keep' }],
    ['location.add', { path: other, watch: false }],
    ['library.create', { name: 'other' }],
    ['library.rename', { name: 'renamed' }],
    ['device.rename', { name: 'elsewhere' }],
    ['entry.mkdir', { path: join(files, 'made') }],
    ['entry.rm', { paths: [join(files, 'a.txt')] }],
  ];
  for (const [name, input] of dryRuns) {
    const o = await core.command(name, input, { dryRun: true });
    t.false(o.committed, name);
    t.true(o.plan.changes.length > 0, `${name} shows what it would change`);
  }
  t.deepEqual(snapshot(core), before);
  t.false(existsSync(join(files, 'made')), 'entry.mkdir --dry-run made no folder');
  t.true(existsSync(join(files, 'a.txt')), 'entry.rm --dry-run removed nothing');
});

test('a refused preview writes nothing either, and the plan a user confirmed still commits', async (t) => {
  const core = await openCore(t);
  await core.command('tag.create', { name: 'taken' });
  const before = snapshot(core);
  const err = await t.throwsAsync(core.command('tag.create', { name: 'taken' }, { dryRun: true }));
  t.is((err as SdError).code, 'E_TAG_EXISTS');
  const unknown = await t.throwsAsync(core.command('tag.delete', { tag: 'nowhere' }, { dryRun: true }));
  t.true(unknown instanceof SdError);
  t.deepEqual(snapshot(core), before);
  // The preview's fingerprint is the one commit checks: reading did not change the state it hashes.
  const dry = await core.command('tag.create', { name: 'fresh' }, { dryRun: true });
  const done = await core.command('tag.create', { name: 'fresh' }, { fingerprint: dry.plan.fingerprint });
  t.true(done.committed);
  t.is(snapshot(core).tags, before.tags + 1);
});

// Compiled, never registered nor run: each write below must be refused by the compiler in a
// preview (an unneeded expect-error directive fails the build), and the same calls compile in a commit.
export const writesInPreview = defineCommand({
  name: 'test.preview-writes',
  summary: 'a preview that tries to write',
  input: z.object({}),
  preview: ({ core, lib }) => {
    // @ts-expect-error a preview cannot append an event
    lib.append('tag.created', {});
    // @ts-expect-error nor open a write unit
    lib.write(() => undefined);
    // @ts-expect-error its database has no statement that runs
    lib.db.prepare('DELETE FROM tags').run();
    // @ts-expect-error nor exec
    lib.db.exec('DELETE FROM tags');
    // @ts-expect-error nor the shared documents
    lib.shared.change('tags', () => undefined);
    // @ts-expect-error the host cannot enqueue a job
    core.jobs.enqueue(lib, 'index', null, {});
    // @ts-expect-error nor create a library
    void core.libraries.create('x');
    // @ts-expect-error nor rename the device
    core.device.name = 'x';
    // @ts-expect-error nor change the transfer limit
    core.transfers?.setLimit(1);
    return { summary: 'nothing', changes: [] };
  },
  commit: ({ core, lib }) => {
    lib.write(() => lib.append('tag.created', {}));
    lib.db.prepare('DELETE FROM tags').run();
    core.jobs.enqueue(lib, 'index', null, {});
    core.device.name = 'x';
    core.transfers?.setLimit(1);
    return {};
  },
  verify: () => [check(true, 'compiled')],
});

test('location add: a dry run estimates the work, the confirmed plan commits after the folder grew, a direct add does not wait for an estimate', async (t) => {
  const core = await openCore(t);
  const root = tempDir(t);
  const folder = join(root, 'photos');
  mkdirSync(join(folder, 'a'), { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(folder, 'a', `${i}.jpg`), `${i}`);
  const dry = await core.command('location.add', { path: folder, watch: false }, { dryRun: true });
  t.deepEqual(dry.plan.notes, ['about 3 files in 1 folders to index']);
  t.deepEqual(dry.plan.info, { estimate: { files: 3, dirs: 1, partial: false } });
  // The folder grows between the plan the user read and the confirmation: the estimate is stale,
  // what the command does is not, so the plan still commits.
  for (let i = 3; i < 10; i++) writeFileSync(join(folder, 'a', `${i}.jpg`), `${i}`);
  const again = await core.command('location.add', { path: folder, watch: false }, { dryRun: true });
  t.deepEqual(again.plan.info, { estimate: { files: 10, dirs: 1, partial: false } });
  t.is(again.plan.fingerprint, dry.plan.fingerprint);
  const done = await core.command(
    'location.add',
    { path: folder, watch: false },
    { fingerprint: dry.plan.fingerprint },
  );
  t.true(done.committed);
  // On the way to a commit nobody reads the estimate: none was made.
  t.is(done.plan.notes, undefined);
  t.is(done.plan.info, undefined);
  // A plan for something else is still refused as stale.
  const other = join(root, 'music');
  mkdirSync(other);
  const dryOther = await core.command('location.add', { path: other, watch: false }, { dryRun: true });
  const stale = await t.throwsAsync(
    core.command(
      'location.add',
      { path: other, name: 'tunes', watch: false },
      { fingerprint: dryOther.plan.fingerprint },
    ),
  );
  t.is((stale as SdError).code, 'E_STALE_PLAN');
});
