// A folder swapped for a symlink between a first index's walk and its hashing, through the real
// daemon and CLI: the hashing thread is held on a FIFO (SD_TEST_HASH_STALL) after the walk has
// listed the folder, the folder is swapped for a link to one outside the location holding files
// of the same names and sizes, then the thread is let go. Nothing from outside is indexed. The
// same for the location's folder itself swapped for a symlink to another folder.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as C, mkdirSync, openSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { blockedOnFifo, Daemon, until } from './daemon-helpers.js';

interface Job {
  id: string;
  kind: string;
  state: string;
  message: string | null;
}

interface Ls {
  entries: { name: string; kind: string; contentId: string | null; size: number }[];
}

/**
 * A first index whose hashing thread is held (on a FIFO) once the walk has listed the location,
 * `swap` made meanwhile, then let go: what `sd ls` shows of the location and of `d`, the job's
 * errors, and the ids of the files outside (same names and sizes as inside, other bytes).
 */
async function swapDuringHashing(
  t: ExecutionContext,
  swap: (paths: { base: string; root: string; outside: string }) => void,
): Promise<{ top: Ls; ls: Ls; errors: { path: string; code: string }[]; secrets: Set<string>; job: Job }> {
  const base = tempDir(t, 'sd-swap-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'd'), { recursive: true });
  mkdirSync(join(outside, 'd'), { recursive: true });
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(root, 'd', `f${i}.txt`), `inside ${i}`);
    writeFileSync(join(outside, `f${i}.txt`), `SECRET ${i}`); // same size, other bytes
    writeFileSync(join(outside, 'd', `f${i}.txt`), `SECRET ${i}`);
  }
  writeFileSync(join(root, 'top.txt'), 'top');
  writeFileSync(join(outside, 'top.txt'), 'TOP');
  const secrets = new Set(
    await Promise.all(
      [...[0, 1, 2, 3, 4].map((i) => join(outside, `f${i}.txt`)), join(outside, 'top.txt')].map(contentIdOf),
    ),
  );
  const { d, fifo } = await heldAtHashing(t, base, root);
  swap({ base, root, outside });
  // Holding the FIFO's writing end open lets every later open of it through.
  const writer = openSync(fifo, C.O_WRONLY | C.O_NONBLOCK);
  t.teardown(() => closeSync(writer));
  const job = await indexJobEnded(d, 'the index job to end');
  const info = d.json<{ errorList: { path: string; code: string }[] }>('job', 'info', job.id);
  return { top: d.json<Ls>('ls', root), ls: lsOrNone(d, join(root, 'd')), errors: info.errorList, secrets, job };
}

/**
 * A daemon adding `root` as a location, its first index's hashing thread held on a FIFO
 * (SD_TEST_HASH_STALL) once the walk has listed the folder: the FIFO, to let it go.
 */
async function heldAtHashing(t: ExecutionContext, base: string, root: string): Promise<{ d: Daemon; fifo: string }> {
  const fifo = join(base, 'stall');
  execFileSync('mkfifo', [fifo]);
  const d = new Daemon(t, join(base, 'data'), { SD_TEST_HASH_STALL: fifo });
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--no-watch').code, 0);
  // The walk lists the folder before its files are hashed: wait for the hashing thread to block
  // opening the FIFO (its kernel wait channel names the FIFO's partner wait).
  const pid = d.pid()!;
  await until('a hashing thread to block on the FIFO', () => blockedOnFifo(pid), 30_000);
  return { d, fifo };
}

/** The index job, once it has completed or failed (up to 30 s). */
async function indexJobEnded(d: Daemon, what: string): Promise<Job> {
  const ended = (): Job | undefined =>
    d.json<Job[]>('job', 'list').find((j) => j.kind === 'index' && ['completed', 'failed'].includes(j.state));
  await until(what, () => ended() !== undefined, 30_000);
  return ended()!;
}

/** `sd ls` of a folder, or no entries where the index holds none (E_NOT_INDEXED: a job that ended first). */
function lsOrNone(d: Daemon, path: string): Ls {
  const r = d.sd('--json', 'ls', path);
  if (r.code === 0) return JSON.parse(r.out) as Ls;
  if (Daemon.code(r) !== 'E_NOT_INDEXED') throw new Error(`sd ls ${path} failed: ${r.err}${r.out}`);
  return { entries: [] };
}

const outsideIds = (secrets: Set<string>, ...lists: Ls[]): string[] =>
  lists.flatMap((l) => l.entries.filter((e) => e.contentId !== null && secrets.has(e.contentId)).map((e) => e.name));

test('a folder swapped for a symlink between the walk and the hashing: no file outside the location is indexed', async (t) => {
  const { top, ls, errors, secrets, job } = await swapDuringHashing(t, ({ base, root, outside }) => {
    renameSync(join(root, 'd'), join(base, 'd.moved'));
    symlinkSync(outside, join(root, 'd'));
  });
  t.is(job.state, 'completed');
  t.is(top.entries.find((e) => e.name === 'd')?.kind, 'folder', 'the walk listed d as the folder it was');
  t.deepEqual(outsideIds(secrets, ls, top), [], 'no content id of a file outside the location');
  t.deepEqual(
    [...new Set(errors.filter((e) => e.path.startsWith('d/')).map((e) => e.code))],
    ['E_PATH_CHANGED'],
    JSON.stringify(errors),
  );
  t.truthy(top.entries.find((e) => e.name === 'top.txt')?.contentId, 'the rest is indexed');
});

test("the location's folder itself swapped between the walk and the hashing: nothing from the folder swapped in is indexed", async (t) => {
  // Someone who can write in the folder above the location puts a symlink to another folder (same
  // names and sizes) at its path. Its files are never hashed under the location's names.
  const { top, ls, errors, secrets, job } = await swapDuringHashing(t, ({ base, root, outside }) => {
    renameSync(root, join(base, 'loc.moved'));
    symlinkSync(outside, root);
  });
  t.deepEqual(outsideIds(secrets, ls, top), [], 'no content id of a file in the folder swapped in');
  // The job ends there, once (E_LOCATION_CHANGED), saying what to do, not with an error per file.
  t.is(job.state, 'failed');
  t.regex(job.message ?? '', /not the one this index job began with.*sd location rescan .* --adopt/);
  t.deepEqual(errors, []);
});

test("the location's folder swapped while the daemon was down mid-index: the resumed job reads nothing from the folder swapped in", async (t) => {
  const { base, root, outside } = locationAndOutside(t);
  writeFileSync(join(outside, 'top.txt'), 'TOP'); // same name and size, other bytes
  const { d: first } = await heldAtHashing(t, base, root);
  const pid = first.pid()!;
  // A crash (or power loss) mid-index, then the swap, then the daemon again: the job resumes.
  process.kill(pid, 'SIGKILL');
  await until('the daemon to be gone', () => !alive(pid), 10_000);
  renameSync(root, join(base, 'loc.moved'));
  symlinkSync(outside, root);
  const again = new Daemon(t, join(base, 'data'));
  t.is(again.start().code, 0);
  const job = await indexJobEnded(again, 'the resumed index job to end');
  t.is(job.state, 'failed');
  t.regex(job.message ?? '', /not the one this index job began with/);
  t.deepEqual(
    lsOrNone(again, root).entries.map((e) => e.name),
    [],
    'nothing of the folder swapped in is indexed under the location',
  );
});

/** A location's folder (`top.txt`) and a folder outside it (`only-there.txt`) to swap in. */
function locationAndOutside(t: ExecutionContext): { base: string; root: string; outside: string } {
  const base = tempDir(t, 'sd-swap-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(root, 'top.txt'), 'top');
  writeFileSync(join(outside, 'only-there.txt'), 'the owner of the other folder');
  return { base, root, outside };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("the location's folder swapped while no job ran: `sd location rescan` refuses it, the index is kept, and --adopt takes it", async (t) => {
  const { base, root, outside } = locationAndOutside(t);
  const d = new Daemon(t, join(base, 'data'));
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--wait', '--no-watch').code, 0);
  renameSync(root, join(base, 'loc.moved'));
  symlinkSync(outside, root);
  const refused = d.sd('--json', 'location', 'rescan', root, '--wait');
  t.not(refused.code, 0);
  t.is(Daemon.code(refused), 'E_LOCATION_REPLACED');
  const plain = d.sd('location', 'rescan', root);
  t.regex(plain.err, /not the folder this location indexed .* --adopt/);
  t.regex(d.sd('location', 'list').out, /\(not the folder indexed: disk not mounted\?\)/);
  t.deepEqual(
    d.json<Ls>('ls', root).entries.map((e) => e.name),
    ['top.txt'],
    'the index still holds the folder it indexed',
  );
  t.is(d.sd('location', 'rescan', root, '--adopt', '--wait').code, 0);
  t.notRegex(d.sd('location', 'list').out, /not the folder indexed/);
  t.deepEqual(
    d.json<Ls>('ls', root).entries.map((e) => e.name),
    ['only-there.txt'],
  );
});
