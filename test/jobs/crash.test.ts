// kill -9 of the process that runs an index job, in the middle of its walk; the next Core on
// the same data dir resumes the job from its checkpoint (no batch indexed twice) and ends with
// the same index as an uninterrupted run.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import Database from 'better-sqlite3-multiple-ciphers';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateTree } from '../../fixtures/tree.js';
import { EventBus, type BusMessage } from '../../src/bus.js';
import type { Core } from '../../src/core.js';
import { openCore } from '../helpers.js';
import { addAndIndex, eventBodies, indexRows, onLines, waitJob, type JobInfo } from '../fixtures-child/util.js';
import { tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('../fixtures-child/index-child.js', import.meta.url));

interface Line {
  job?: string;
  state?: string;
  phase?: string | null;
  done?: number;
  exit?: boolean;
}

const comparable = (core: Core, loc: string) =>
  indexRows(core, loc).map((r) => [r.key, r.t, r.size, r.cid, r.dsize, r.dfiles]);
const upsertedCount = (core: Core): number =>
  eventBodies<{ e: unknown[] }>(core, 'entries.upserted').reduce((n, b) => n + b.e.length, 0);

test('kill -9 during the walk of a large tree: the job resumes from its checkpoint and ends with the same index', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  const m = generateTree(tree, {
    files: 30_000,
    folders: 1500,
    seed: 31,
    extras: false,
    sparseFiles: 1,
    sparseSize: 8 * 1024 * 1024,
  });
  const data = join(dir, 'data');

  const child = spawn(process.execPath, [CHILD, data, tree, '150'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<string | null>((r) => child.on('exit', (_code, signal) => r(signal)));
  let last: Line | undefined;
  let job: string | undefined;
  onLines(child.stdout, (l) => {
    const line = JSON.parse(l) as Line;
    if (line.job) job = line.job;
    last = line;
    // Some batches of the walk are committed, and it is far from finished: kill -9 now.
    if (line.state === 'running' && line.phase === 'walk' && (line.done ?? 0) >= 3000) child.kill('SIGKILL');
  });
  let timer: NodeJS.Timeout | undefined;
  const signal = await Promise.race([
    exited,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000))),
  ]);
  clearTimeout(timer);
  t.is(signal, 'SIGKILL', `child was not killed mid-walk (last line ${JSON.stringify(last)}; stderr ${stderr})`);
  t.is(last?.phase, 'walk');
  const killedAt = last!.done!;
  const entriesTotal = m.files + m.folders;
  t.true(killedAt < entriesTotal / 2, `killed at ${killedAt} of ${entriesTotal}`);
  // A first index in an empty library holds the content-id index out from its first thousand
  // entries: the process died with it dropped, and the database on disk says so.
  const libs = join(data, 'libraries');
  const dbFile = readdirSync(libs).find((f) => f.endsWith('.db'))!;
  const raw = new Database(join(libs, dbFile), { readonly: true });
  const dropped = !raw.prepare("SELECT 1 FROM sqlite_master WHERE name = 'entries_by_cid'").get();
  raw.close();
  t.true(dropped, 'killed while the content-id index was held out');

  // The restarted Core resumes the job while it opens, before a subscriber could attach, so
  // its progress messages are recorded at the bus itself (this file runs in its own process).
  const progress: number[] = [];
  const publish = EventBus.prototype.publish;
  EventBus.prototype.publish = function (msg: BusMessage) {
    if (msg.kind === 'job' && msg.job === job && msg.state === 'running' && msg.phase === 'walk')
      progress.push(msg.done ?? 0);
    publish.call(this, msg);
  };
  t.teardown(() => {
    EventBus.prototype.publish = publish;
  });
  const core = await openCore(t, data);
  const end = await waitJob(core, job!, ['completed', 'failed', 'cancelled'], 60_000);
  t.is(end.state, 'completed');
  t.true(end.resumes >= 1, 'the job was resumed, not queued again from scratch');
  t.is(end.errors, 0);
  t.true(progress.length > 0);
  t.true(
    Math.min(...progress) >= killedAt,
    `the walk went on from its checkpoint (progress ${progress.join(',')} after dying at ${killedAt})`,
  );
  t.true(
    Math.max(...progress) <= entriesTotal,
    'entries walked across both runs never exceed the tree: no batch walked twice',
  );
  // Entries upserted across both runs: every entry exactly once, so no batch was walked twice.
  const rows = indexRows(core);
  t.is(rows.length, entriesTotal);
  t.is(upsertedCount(core), entriesTotal, 'no batch repeated after the restart');
  t.is((await core.query<JobInfo[]>('job.list', {})).length, 1, 'no second index job was needed');

  const fresh = await openCore(t, join(dir, 'data-fresh'));
  const { id: freshLoc } = await addAndIndex(fresh, tree, {}, 60_000);
  const loc = (await core.query<{ id: string }[]>('location.list', {}))[0]!.id;
  t.deepEqual(comparable(core, loc), comparable(fresh, freshLoc), 'the resumed index equals an uninterrupted one');
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
  const cid = rows.find((r) => r.t === 0 && r.cid)!.cid!;
  const plan = core.libraries
    .resolve()
    .db.prepare('EXPLAIN QUERY PLAN SELECT key FROM entries WHERE cid = ?')
    .all(cid) as { detail: string }[];
  t.true(
    plan.some((p) => p.detail.includes('entries_by_cid')),
    'the content-id index is back and used after the resumed job',
  );
});
