// The JobManager seen from a user: an index job paused while it runs stays paused, resumes to
// the same index as an uninterrupted run; a cancelled job stays cancelled; transitions the
// job state machine does not allow are refused with E_JOB_STATE.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import { Core } from '../../src/core.js';
import { openCore } from '../helpers.js';
import { addAndIndex, indexRows, sleep, waitFor, waitJob, type JobInfo } from '../fixtures-child/util.js';
import { tempDir } from './helpers.js';

async function startIndex(core: Core, path: string): Promise<{ id: string; job: string }> {
  const out = await core.command<{ id: string; job: string }>('location.add', { path, watch: false });
  await waitFor(
    'the index job to run',
    async () =>
      (await core.query<JobInfo[]>('job.list', {})).some((j) => j.id === out.result!.job && j.state === 'running'),
    30_000,
    5,
  );
  return out.result!;
}

const comparable = (core: Core, loc: string) =>
  indexRows(core, loc).map((r) => [r.key, r.t, r.size, r.cid, r.dsize, r.dfiles]);

test('location add starts the hashing threads while it previews, also for a dry run, and not where jobs do not run', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 30, folders: 3, seed: 5, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));
  t.false(core.jobs.deps.threads.running, 'no threads before any job');
  const dry = await core.command('location.add', { path: tree, watch: false }, { dryRun: true });
  t.false(dry.committed);
  t.true(core.jobs.deps.threads.running, 'started by the preview');
  t.deepEqual(await core.query('location.list', {}), [], 'a dry run adds nothing');
  // The job that follows uses them and indexes as ever.
  const { id } = await addAndIndex(core, tree);
  t.is(indexRows(core, id).filter((r) => r.t === 0 && r.cid !== null).length, 30);
  // A Core that does not run jobs starts none (its preview still works).
  const quiet = await Core.open(join(dir, 'data-quiet'), { services: false });
  t.teardown(() => quiet.close());
  const q = await quiet.command('location.add', { path: tree, watch: false }, { dryRun: true });
  t.false(q.committed);
  t.false(quiet.jobs.deps.threads.running);
});

test('a paused index job stays paused and resumes to the same index as an uninterrupted run', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 20_000, folders: 1000, seed: 21, extras: false, sparseFiles: 0 });

  const core = await openCore(t, join(dir, 'data-a'));
  const { id: loc, job } = await startIndex(core, tree);
  const paused = await core.command('job.pause', { ref: job });
  t.true(paused.verify!.ok);
  const p1 = await core.query<JobInfo>('job.info', { ref: job });
  t.log(`paused in ${p1.phase} at ${p1.done}/${p1.total ?? '?'}`);
  t.is(p1.state, 'paused');
  t.not(p1.phase, 'aggregate');
  if (p1.total !== null) t.true(p1.done < p1.total, `${p1.done} < ${p1.total}`);
  const partial = indexRows(core, loc);
  t.true(partial.filter((r) => r.t === 0 && r.cid !== null).length < 20_000, 'the index is not complete while paused');
  await sleep(400);
  const p2 = await core.query<JobInfo>('job.info', { ref: job });
  t.like(p2, { state: 'paused', done: p1.done, phase: p1.phase }, 'no progress while paused');
  t.is(indexRows(core, loc).length, partial.length);
  const loc1 = (
    await core.query<{ id: string; jobState: string; indexedAt: number | null }[]>('location.list', {})
  )[0]!;
  t.like(loc1, { jobState: 'paused', indexedAt: null });

  const resumed = await core.command('job.resume', { ref: job });
  t.true(resumed.verify!.ok);
  const end = await waitJob(core, job);
  t.is(end.state, 'completed');
  t.true(end.resumes >= 1);

  const fresh = await openCore(t, join(dir, 'data-b'));
  const { id: loc2 } = await addAndIndex(fresh, tree);
  const want = comparable(fresh, loc2);
  t.is(want.filter((r) => r[1] === 0).length, 20_000);
  t.deepEqual(comparable(core, loc), want, 'paused+resumed index equals the uninterrupted one');
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
});

test('a cancelled job stays cancelled and invalid transitions give E_JOB_STATE', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 12_000, folders: 600, seed: 22, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));

  const { job } = await startIndex(core, tree);
  await t.throwsAsync(
    core.command('job.resume', { ref: job }),
    { code: 'E_JOB_STATE' },
    'a running job cannot be resumed',
  );
  const out = await core.command('job.cancel', { ref: job });
  t.true(out.verify!.ok);
  const c1 = await core.query<JobInfo>('job.info', { ref: job });
  t.is(c1.state, 'cancelled');
  await sleep(400);
  t.like(await core.query<JobInfo>('job.info', { ref: job }), { state: 'cancelled', done: c1.done });
  t.true(
    indexRows(core).filter((r) => r.t === 0 && r.cid !== null).length < 12_000,
    'the job stopped before it finished',
  );
  await t.throwsAsync(core.command('job.resume', { ref: job }), { code: 'E_JOB_STATE' });
  await t.throwsAsync(core.command('job.pause', { ref: job }), { code: 'E_JOB_STATE' });
  await t.throwsAsync(core.command('job.cancel', { ref: job }), { code: 'E_JOB_STATE' });
  t.is((await core.query<JobInfo>('job.info', { ref: job })).state, 'cancelled');

  // A completed job cannot be paused, resumed or cancelled; a paused one cannot be paused again.
  const loc = (await core.query<{ id: string }[]>('location.list', {}))[0]!.id;
  const again = await core.command<{ job: string }>('location.rescan', { ref: loc });
  t.is((await waitJob(core, again.result!.job)).state, 'completed');
  for (const cmd of ['job.pause', 'job.resume', 'job.cancel']) {
    await t.throwsAsync(core.command(cmd, { ref: again.result!.job }), { code: 'E_JOB_STATE' }, cmd);
  }
  const third = await core.command<{ job: string }>('location.rescan', { ref: loc, full: true });
  await core.command('job.pause', { ref: third.result!.job });
  const state = (await core.query<JobInfo>('job.info', { ref: third.result!.job })).state;
  if (state === 'paused') {
    await t.throwsAsync(core.command('job.pause', { ref: third.result!.job }), { code: 'E_JOB_STATE' });
    await core.command('job.cancel', { ref: third.result!.job });
    t.is(
      (await core.query<JobInfo>('job.info', { ref: third.result!.job })).state,
      'cancelled',
      'a paused job can be cancelled',
    );
  } else {
    t.is(state, 'completed'); // it finished before the pause reached it
  }
  await t.throwsAsync(core.command('job.pause', { ref: 'ffffffff-no-such-job' }), { code: 'E_JOB_NOT_FOUND' });
});

test('a job of a watched location walks only once its watch is in place; cancelled while it waits, it ends', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 40, folders: 4, seed: 23, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc } = await addAndIndex(core, tree);
  // A watch still being made (as a large tree's, on its threads): its ready() waits for us.
  let done = (): void => undefined;
  const inPlace = new Promise<void>((r) => (done = r));
  const watch = { close: () => undefined, size: 0, ready: () => inPlace };
  core.jobs.deps.watches.set(loc, watch);
  writeFileSync(join(tree, 'made-after.txt'), 'x');
  const rescan = (await core.command<{ job: string }>('location.rescan', { ref: loc })).result!.job;
  await sleep(400); // a rescan of 40 files takes a few ms: long enough to see it wait
  const waiting = await core.query<JobInfo>('job.info', { ref: rescan });
  t.is(waiting.state, 'running');
  t.false(
    indexRows(core, loc).some((r) => r.key.endsWith('made-after.txt')),
    'nothing walked before the watch is in place',
  );
  done();
  t.is((await waitJob(core, rescan)).state, 'completed');
  t.true(indexRows(core, loc).some((r) => r.key.endsWith('made-after.txt')));
  // A job cancelled while it waits ends at once; a watch let go is not waited on.
  const never = { close: () => undefined, size: 0, ready: () => new Promise<void>(() => undefined) };
  core.jobs.deps.watches.set(loc, never);
  const second = (await core.command<{ job: string }>('location.rescan', { ref: loc })).result!.job;
  await core.command('job.cancel', { ref: second });
  t.is((await waitJob(core, second, undefined, 5_000)).state, 'cancelled');
  core.jobs.deps.watches.delete(loc, never);
  const third = (await core.command<{ job: string }>('location.rescan', { ref: loc })).result!.job;
  t.is((await waitJob(core, third, undefined, 10_000)).state, 'completed');
});
