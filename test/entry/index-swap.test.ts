// A folder swapped for a symlink between a first index's walk and its hashing, through the real
// daemon and CLI: the hashing thread is held on a FIFO (SD_TEST_HASH_STALL) after the walk has
// listed the folder, the folder is swapped for a link to one outside the location holding files
// of the same names and sizes, then the thread is let go. Nothing from outside is indexed.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as C, mkdirSync, openSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { blockedOnFifo, Daemon, until } from './daemon-helpers.js';

interface Ls {
  entries: { name: string; kind: string; contentId: string | null; size: number }[];
}

test('a folder swapped for a symlink between the walk and the hashing: no file outside the location is indexed', async (t) => {
  const base = tempDir(t, 'sd-swap-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'd'), { recursive: true });
  mkdirSync(outside);
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(root, 'd', `f${i}.txt`), `inside ${i}`);
    writeFileSync(join(outside, `f${i}.txt`), `SECRET ${i}`); // same size, other bytes
  }
  writeFileSync(join(root, 'top.txt'), 'top');
  const secrets = new Set(await Promise.all([0, 1, 2, 3, 4].map((i) => contentIdOf(join(outside, `f${i}.txt`)))));
  const fifo = join(base, 'stall');
  execFileSync('mkfifo', [fifo]);
  const d = new Daemon(t, join(base, 'data'), { SD_TEST_HASH_STALL: fifo });
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--no-watch').code, 0);
  // The walk lists the folder before its files are hashed: wait for the hashing thread to block
  // opening the FIFO (its kernel wait channel names the FIFO's partner wait).
  const pid = d.pid()!;
  const blocked = (): boolean => blockedOnFifo(pid);
  await until('a hashing thread to block on the FIFO', blocked, 30_000);
  renameSync(join(root, 'd'), join(base, 'd.moved'));
  symlinkSync(outside, join(root, 'd'));
  // Holding the FIFO's writing end open lets every later open of it through.
  const writer = openSync(fifo, C.O_WRONLY | C.O_NONBLOCK);
  t.teardown(() => closeSync(writer));
  await until(
    'the index job to end',
    () =>
      d
        .json<{ kind: string; state: string }[]>('job', 'list')
        .some((j) => j.kind === 'index' && ['completed', 'failed'].includes(j.state)),
    30_000,
  );
  const job = d.json<{ id: string; kind: string; state: string }[]>('job', 'list').find((j) => j.kind === 'index')!;
  t.is(job.state, 'completed');
  const info = d.json<{ errorList: { path: string; code: string }[] }>('job', 'info', job.id);
  const ls = d.json<Ls>('ls', join(root, 'd'));
  const top = d.json<Ls>('ls', root);
  t.is(top.entries.find((e) => e.name === 'd')?.kind, 'folder', 'the walk listed d as the folder it was');
  t.deepEqual(
    ls.entries.filter((e) => e.contentId !== null && secrets.has(e.contentId)).map((e) => e.name),
    [],
    'no content id of a file outside the location',
  );
  t.deepEqual(
    [...new Set(info.errorList.filter((e) => e.path.startsWith('d/')).map((e) => e.code))],
    ['E_PATH_CHANGED'],
    JSON.stringify(info.errorList),
  );
  t.truthy(top.entries.find((e) => e.name === 'top.txt')?.contentId, 'the rest is indexed');
});
