// A big identify phase drops the content-id index and builds it once at its end (per-file updates
// of that index cost 5x the update itself at scale). What a user must not notice: lookups by
// content id work and use the index after the job, while it is paused midway, and after a crash
// that left the index dropped; the content ids are those of a run that kept the index.
import test from 'ava';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import type { Core } from '../../src/core.js';
import { setBulkIdentifyForTests } from '../../src/jobs/index-phases.js';
import { openCore } from '../helpers.js';
import { addAndIndex, indexRows, waitJob, type JobInfo } from '../fixtures-child/util.js';
import { tempDir } from './helpers.js';

const hasIndex = (core: Core): boolean =>
  !!core.libraries.resolve().db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'entries_by_cid'").get();

const usesIndex = (core: Core): boolean =>
  (
    core.libraries
      .resolve()
      .db.prepare('EXPLAIN QUERY PLAN SELECT key FROM entries WHERE cid = ?')
      .all('0'.repeat(32)) as { detail: string }[]
  ).some((r) => r.detail.includes('entries_by_cid'));

test.serial('the content-id index is rebuilt after a big identify, a pause midway and a crash', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 12_000, folders: 600, seed: 5, extras: false, sparseFiles: 0 });
  setBulkIdentifyForTests(1000);
  t.teardown(() => setBulkIdentifyForTests(50_000));

  const core = await openCore(t, join(dir, 'data-a'));
  let duringIdentify: boolean | undefined;
  let job = '';
  let paused: Promise<unknown> | undefined;
  const stop = core.bus.subscribe((m) => {
    if (m.kind !== 'job' || m.job !== job || m.phase !== 'identify' || duringIdentify !== undefined) return;
    duringIdentify = hasIndex(core);
    paused = core.command('job.pause', { ref: job });
  });
  t.teardown(stop);
  const out = await core.command<{ id: string; job: string }>('location.add', { path: tree, watch: false });
  job = out.result!.job;
  await waitJob(core, job, ['paused', 'completed'], 60_000);
  await paused;
  t.false(duringIdentify, 'the index was dropped while files were identified');
  const p = await core.query<JobInfo>('job.info', { ref: job });
  t.is(p.state, 'paused');
  t.is(p.phase, 'identify');
  t.true(hasIndex(core) && usesIndex(core), 'a paused job leaves the index in place');

  await core.command('job.resume', { ref: job });
  t.is((await waitJob(core, job, undefined, 60_000)).state, 'completed');
  t.true(hasIndex(core) && usesIndex(core), 'the finished job leaves the index in place');

  // A run that never dropped the index gives the same content ids.
  setBulkIdentifyForTests(1e9);
  const fresh = await openCore(t, join(dir, 'data-b'));
  const { id: loc2 } = await addAndIndex(fresh, tree);
  const ids = (c: Core, loc?: string) =>
    indexRows(c, loc)
      .filter((r) => r.t === 0)
      .map((r) => [r.key, r.cid]);
  const mine = ids(core);
  t.is(mine.length, 12_000);
  t.deepEqual(mine, ids(fresh, loc2));
  const [key, cid] = mine[7]!;
  const hit = core.libraries.resolve().db.prepare('SELECT key FROM entries WHERE cid = ?').all(cid) as {
    key: string;
  }[];
  t.true(hit.some((h) => h.key.split('\u0001').join('/') === key));

  // A crash with the index dropped: the next open builds it.
  core.libraries.resolve().db.exec('DROP INDEX entries_by_cid');
  await core.close();
  const again = await openCore(t, join(dir, 'data-a'));
  t.true(hasIndex(again) && usesIndex(again));
});
