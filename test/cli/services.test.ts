// The actor tree seen from the CLI, through a real daemon: `sd status --services` prints every
// actor with its state and for how long, `sd events --kind service` streams their transitions as
// they happen, and `sd job pause|resume` reach the job's actor (the tree shows it paused).
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { eventually } from '../support/until.js';
import { baseEnv, SD, sd, sdJson, startDaemon, until } from './helpers.js';

interface Node {
  id: string;
  depth: number;
  state: string;
  since: number;
}

function folder(t: Parameters<typeof tempDir>[0], files: number): string {
  const root = join(tempDir(t, 'sd-files-'), 'photos');
  for (let d = 0; d < files / 100; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) writeFileSync(join(root, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`);
  }
  return root;
}

test('status --services prints the actor tree; events --kind service streams a job from queued to completed', async (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  const tree = sdJson<{ tree: Node[]; now: number }>(t, dir, ['status', '--services']);
  const top = tree.tree.filter((n) => n.depth === 1).map((n) => n.id);
  t.deepEqual(top.sort(), ['JobManager', 'NetworkService', 'SyncService']);
  t.is(tree.tree.find((n) => n.id === 'JobManager')!.state, 'idle');
  for (const n of tree.tree) t.true(n.since <= tree.now && n.since > tree.now - 600_000, `${n.id} since`);
  const text = sd(dir, ['status', '--services']);
  t.is(text.code, 0, text.err);
  t.regex(text.out, /^ACTOR\s+STATE\s+FOR/m);
  t.regex(text.out, /^JobManager\s+idle\s+\d+(\.\d)?s/m);
  t.regex(text.out, /^NetworkService\s+\S+/m);

  // Only service lines come down a --kind service stream, never events or job progress.
  const stream = spawn(process.execPath, [SD, '--data-dir', dir, '--json', 'events', '--kind', 'service'], {
    env: baseEnv(),
  });
  let out = '';
  stream.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  t.teardown(() => stream.kill());
  const lines = (): { kind: string; service: string; state: string; depth: number }[] =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; service: string; state: string; depth: number });
  // Its index job ends before a rescan is asked: JobManager is idle, so the rescan's job is seen to
  // make it work (`location add` answers before its job starts; the rescan used to come after it).
  const add = sd(dir, ['location', 'add', folder(t, 300), '--name', 'photos', '--wait']);
  t.is(add.code, 0, add.err);
  // The stream is live once the daemon has subscribed it, which the client cannot see: a rescan is
  // asked until one is streamed (the first, unless the machine is very slow).
  let job: { id: string } | undefined;
  let asked = 0;
  for (; asked < 5 && !job; asked++) {
    const r = sdJson<{ result?: { job?: string } }>(t, dir, ['location', 'rescan', 'photos', '--full']);
    const id = r.result?.job;
    t.truthy(id, JSON.stringify(r));
    const seen = (): boolean => lines().some((l) => l.service === `job:${id}` && l.state === 'completed');
    await until(
      'the rescan',
      () => seen() || sdJson<{ state: string }>(t, dir, ['job', 'info', id!]).state === 'completed',
      30_000,
    );
    if (await eventually(seen, 2_000)) job = { id: id! };
  }
  if (!job) return t.fail('no rescan was streamed');
  t.log(`rescans until one was streamed: ${asked}`);
  const { id: jobId } = job;
  const mine = lines().filter((l) => l.service === `job:${jobId}`);
  t.is(mine[0]!.state, 'queued');
  t.true(
    mine.some((l) => l.state === 'running.working'),
    JSON.stringify(mine),
  );
  t.is(mine.at(-1)!.state, 'completed');
  t.true(
    mine.every((l) => l.depth === 2),
    'a job is a child of JobManager',
  );
  t.true(lines().every((l) => l.kind === 'service'));
  t.true(lines().some((l) => l.service === 'JobManager' && l.state === 'working'));
  // A watcher for the new location, and no job left in the tree once it completed.
  const after = sdJson<{ tree: Node[] }>(t, dir, ['status', '--services']).tree;
  t.false(after.some((n) => n.id === `job:${jobId}`));
  t.true(after.some((n) => n.id.startsWith('watch:') && n.depth === 2));
});

test('a paused job shows as paused in the tree and resumes from there; odd arguments are refused', async (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  t.is(sd(dir, ['location', 'add', folder(t, 5000), '--name', 'big']).code, 0);
  const job = sdJson<{ id: string; kind: string }[]>(t, dir, ['job', 'list']).find((j) => j.kind === 'index')!;
  const p = sd(dir, ['job', 'pause', job.id.slice(0, 8)]);
  if (p.code !== 0) {
    // Fast machines finish 5,000 small files before the pause arrives: the command says so.
    t.regex(p.err, /completed/);
    t.log('the job completed before the pause arrived');
  } else {
    const nodes = sdJson<{ tree: Node[] }>(t, dir, ['status', '--services']).tree;
    t.is(nodes.find((n) => n.id === `job:${job.id}`)?.state, 'paused');
    t.is(sdJson<{ state: string }>(t, dir, ['job', 'info', job.id]).state, 'paused');
    t.is(sd(dir, ['job', 'resume', job.id]).code, 0);
    await until(
      'the resumed job',
      () => sdJson<{ state: string }>(t, dir, ['job', 'info', job.id]).state === 'completed',
      60_000,
    );
  }
  const bad = sd(dir, ['events', '--kind', 'nonsense']);
  t.not(bad.code, 0);
  t.regex(bad.err, /nonsense|kind/);
  t.is(sd(dir, ['job', 'pause', 'zzzzzzzz']).code, 1);
  t.is(sd(tempDir(t), ['status', '--services']).code, 3, 'no daemon: exit 3 as plain status');
});
