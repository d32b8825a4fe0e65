// `sd job info` says where an index job's time went: time and items per phase (walk, diff,
// identify, commit, aggregate), through the real Core and the real CLI; the times survive a
// pause and a resume without counting a batch twice.
import test from 'ava';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import type { Core } from '../../src/core.js';
import { phaseRows, type PhaseRow } from '../../src/jobs/phase-times.js';
import { openCore } from '../helpers.js';
import { addAndIndex, eventBodies, indexRows, waitFor, waitJob, type JobInfo } from '../fixtures-child/util.js';
import { sd, startDaemon } from '../cli/helpers.js';
import { tempDir } from './helpers.js';

type Info = JobInfo & { runMs: number; phases: PhaseRow[] };

const byPhase = (info: Info): Record<string, PhaseRow> => Object.fromEntries(info.phases.map((p) => [p.phase, p]));

async function info(core: Core, job: string): Promise<Info> {
  return core.query<Info>('job.info', { ref: job });
}

test('a first index reports every phase with its items; a rescan of the unchanged tree hashes and writes nothing', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  const m = generateTree(tree, { files: 800, folders: 40, seed: 5, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc, job } = await addAndIndex(core, tree);
  const first = await info(core, job.id);
  const p = byPhase(first);
  t.deepEqual(
    first.phases.map((r) => r.phase),
    ['walk', 'diff', 'identify', 'commit', 'aggregate'],
    'every phase, in pipeline order',
  );
  const rows = indexRows(core, loc);
  const files = rows.filter((r) => r.t === 0).length;
  t.is(files, m.files);
  t.is(p.walk!.n, rows.length, 'walk counts every entry once');
  t.is(p.diff!.n, rows.length);
  t.is(p.identify!.n, files, 'identify counts the files it hashed');
  t.is(p.commit!.n, rows.length, 'commit counts each entry once: a first index writes it with its content id');
  t.is(rows.filter((r) => r.t === 0 && r.cid === null).length, 0, 'every file has its content id');
  t.is(p.aggregate!.n, files);
  for (const r of first.phases) {
    t.true(r.ms >= 0, `${r.phase} ${r.ms} ms`);
    // the rate comes from the unrounded time: it lies between the rates of ms +- 0.5
    if (r.n > 0 && r.ms > 0) {
      t.true(r.perSec! <= (r.n / (r.ms - 0.5)) * 1000 + 1 && r.perSec! >= (r.n / (r.ms + 0.5)) * 1000 - 1, r.phase);
    }
  }
  // identify runs on the pool while the job's thread commits; the other phases follow each other
  const serial = first.phases.filter((r) => r.phase !== 'identify').reduce((s, r) => s + r.ms, 0);
  t.true(serial <= first.runMs + 50, `serial phases (${serial} ms) fit in the job's run time (${first.runMs} ms)`);

  const again = await core.command<{ job: string }>('location.rescan', { ref: loc });
  const re = await waitJob(core, again.result!.job);
  t.is(re.state, 'completed');
  const q = byPhase(await info(core, again.result!.job));
  t.is(q.walk!.n, rows.length);
  t.false('identify' in q, 'nothing to hash in an unchanged tree');
  t.is(q.commit!.n, 0, 'nothing written but the job state');
  t.is(q.aggregate!.n, files);
  // The unchanged rescan's totals come from its walk: they are the index's.
  const indexed = eventBodies<{ id: string; files: number; dirs: number; bytes: number }>(core, 'location.indexed');
  t.is(indexed.length, 2);
  const bytes = rows.filter((r) => r.t === 0).reduce((s, r) => s + r.size, 0);
  t.deepEqual(indexed[1], { id: indexed[1]!.id, files, dirs: rows.filter((r) => r.t === 1).length, bytes });
  t.deepEqual(indexed[1], indexed[0]);
});

test('phase times survive a pause: after the resume each entry is walked and each file hashed once', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 20_000, folders: 1000, seed: 21, extras: false, sparseFiles: 0 });
  const core = await openCore(t, join(dir, 'data'));
  // Paused in the middle of the walk, while batches are hashed ahead of those written.
  let job = '';
  let pausing: Promise<unknown> | undefined;
  const stop = core.bus.subscribe((m) => {
    if (m.kind === 'job' && m.job === job && m.phase === 'walk' && (m.done ?? 0) >= 5000 && !pausing)
      pausing = core.command('job.pause', { ref: job });
  });
  t.teardown(stop);
  const out = await core.command<{ id: string; job: string }>('location.add', { path: tree, watch: false });
  job = out.result!.job;
  await waitFor('the job to pause', async () => ((await info(core, job)).state === 'paused' ? true : undefined));
  const paused = await info(core, job);
  t.is(paused.phase, 'walk');
  await core.command('job.resume', { ref: job });
  const end = await waitJob(core, job, undefined, 120_000);
  t.is(end.state, 'completed');
  const p = byPhase(await info(core, job));
  const rows = indexRows(core, out.result!.id);
  t.is(p.walk!.n, rows.length, `walked ${p.walk!.n} for ${rows.length} entries (paused in ${paused.phase})`);
  t.is(p.identify!.n, 20_000);
});

test('sd job info prints the time and rate of each phase; an unknown job is refused', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 300, folders: 12, seed: 9, extras: false, sparseFiles: 0 });
  const data = join(dir, 'data');
  startDaemon(t, data);
  const add = sd(data, ['location', 'add', tree, '--wait']);
  t.is(add.code, 0, add.err);
  const list = sd(data, ['--json', 'job', 'list']);
  const id = (JSON.parse(list.out) as { id: string }[])[0]!.id;
  const shown = sd(data, ['job', 'info', id.slice(0, 8)]);
  t.is(shown.code, 0, shown.err);
  t.regex(shown.out, /PHASE\s+TIME\s+ITEMS\s+PER SECOND/);
  for (const phase of ['walk', 'diff', 'identify', 'commit', 'aggregate'])
    t.regex(shown.out, new RegExp(`^\\s*${phase}\\s+\\d+\\.\\d\\d s\\s+\\d+\\s+(\\d[\\d,]*|-)\\s*$`, 'm'));
  t.regex(shown.out, /identify\s+\S+ s\s+300\s/);
  const bad = sd(data, ['job', 'info', 'zzzzzzzz']);
  t.not(bad.code, 0);
  t.regex(bad.err + bad.out, /no job "zzzzzzzz"/);
});

test('a checkpoint from an older build, or a damaged one, shows no phase rather than failing', (t) => {
  t.deepEqual(phaseRows(undefined), []);
  t.deepEqual(phaseRows('walk'), []);
  t.deepEqual(phaseRows({ walk: { ms: 'x', n: 3 }, bogus: { ms: 1, n: 1 } }), []);
  t.deepEqual(phaseRows({ identify: { ms: 0, n: 5 }, walk: { ms: 500, n: 1000 } }), [
    { phase: 'walk', ms: 500, n: 1000, perSec: 2000 },
    { phase: 'identify', ms: 0, n: 5, perSec: null },
  ]);
});
