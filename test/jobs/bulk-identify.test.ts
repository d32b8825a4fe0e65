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

/** Pauses `job` at the first progress of `phase` with at least `from` done; says whether the index was there then. */
function pauseIn(
  core: Core,
  phase: string,
  from: number,
): { job: string; seen: () => boolean | undefined; paused: () => Promise<unknown> | undefined; stop: () => void } {
  let seen: boolean | undefined;
  let paused: Promise<unknown> | undefined;
  const state = { job: '' };
  const stop = core.bus.subscribe((m) => {
    if (m.kind !== 'job' || m.job !== state.job || m.phase !== phase || (m.done ?? 0) < from || seen !== undefined)
      return;
    seen = hasIndex(core);
    paused = core.command('job.pause', { ref: state.job });
  });
  return Object.assign(state, { seen: () => seen, paused: () => paused, stop });
}

test.serial(
  'the content-id index is rebuilt after a big first index, a big identify, a pause midway and a crash',
  async (t) => {
    const dir = tempDir(t);
    const tree = join(dir, 'tree');
    generateTree(tree, { files: 12_000, folders: 600, seed: 5, extras: false, sparseFiles: 0 });
    setBulkIdentifyForTests(1000);
    t.teardown(() => setBulkIdentifyForTests(50_000));

    const core = await openCore(t, join(dir, 'data-a'));
    // A first index writes entries with their content ids: past 1,000 entries it drops the index.
    const walk = pauseIn(core, 'walk', 3000);
    t.teardown(walk.stop);
    const out = await core.command<{ id: string; job: string }>('location.add', { path: tree, watch: false });
    walk.job = out.result!.job;
    await waitJob(core, walk.job, ['paused', 'completed'], 60_000);
    await walk.paused();
    t.false(walk.seen(), 'the index was dropped while the first index wrote entries');
    let p = await core.query<JobInfo>('job.info', { ref: walk.job });
    t.is(p.state, 'paused');
    t.is(p.phase, 'walk');
    t.true(hasIndex(core) && usesIndex(core), 'a paused job leaves the index in place');
    await core.command('job.resume', { ref: walk.job });
    t.is((await waitJob(core, walk.job, undefined, 60_000)).state, 'completed');
    t.true(hasIndex(core) && usesIndex(core), 'the finished job leaves the index in place');

    // A full re-identify of 12,000 files drops it while it identifies.
    const ident = pauseIn(core, 'identify', 1);
    t.teardown(ident.stop);
    const re = await core.command<{ job: string }>('location.rescan', { ref: out.result!.id, full: true });
    ident.job = re.result!.job;
    await waitJob(core, ident.job, ['paused', 'completed'], 60_000);
    await ident.paused();
    t.false(ident.seen(), 'the index was dropped while files were identified');
    p = await core.query<JobInfo>('job.info', { ref: ident.job });
    t.is(p.state, 'paused');
    t.is(p.phase, 'identify');
    t.true(hasIndex(core) && usesIndex(core), 'a paused job leaves the index in place');
    await core.command('job.resume', { ref: ident.job });
    t.is((await waitJob(core, ident.job, undefined, 60_000)).state, 'completed');
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
  },
);

test.serial(
  'a first index holds the content-id index out early in a small library, not when the library is large next to it',
  async (t) => {
    const dir = tempDir(t);
    const big = join(dir, 'big');
    const small = join(dir, 'small');
    generateTree(big, { files: 8000, folders: 400, seed: 7, extras: false, sparseFiles: 0 });
    generateTree(small, { files: 1500, folders: 75, seed: 8, extras: false, sparseFiles: 0 });
    const core = await openCore(t, join(dir, 'data'));

    // An empty library: out from the first thousand entries, long before the identify threshold.
    const first = pauseIn(core, 'walk', 2000);
    t.teardown(first.stop);
    const a = await core.command<{ id: string; job: string }>('location.add', { path: big, watch: false });
    first.job = a.result!.job;
    await waitJob(core, first.job, ['paused', 'completed'], 60_000);
    await first.paused();
    t.false(first.seen(), 'held out at 2,000 of 8,400 entries in an empty library');
    await core.command('job.resume', { ref: first.job });
    t.is((await waitJob(core, first.job, undefined, 60_000)).state, 'completed');
    t.true(hasIndex(core) && usesIndex(core));

    // 1,575 entries next to 8,400: building the index again would cost more than it saves.
    const second = pauseIn(core, 'walk', 1000);
    t.teardown(second.stop);
    const b = await core.command<{ id: string; job: string }>('location.add', { path: small, watch: false });
    second.job = b.result!.job;
    await waitJob(core, second.job, ['paused', 'completed'], 60_000);
    await second.paused();
    t.true(second.seen(), 'kept while a small location is indexed into a larger library');
    await core.command('job.resume', { ref: second.job });
    t.is((await waitJob(core, second.job, undefined, 60_000)).state, 'completed');
    t.true(hasIndex(core) && usesIndex(core));
    const file = indexRows(core, b.result!.id).find((r) => r.t === 0 && r.cid)!;
    const hit = core.libraries.resolve().db.prepare('SELECT key FROM entries WHERE cid = ?').all(file.cid) as {
      key: string;
    }[];
    t.true(
      hit.some((h) => h.key.split('\u0001').join('/') === file.key),
      'a lookup by content id finds the file',
    );
  },
);
