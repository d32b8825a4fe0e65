// Full disks, on a real 20 MB tmpfs: one that fills while the index is written (the data dir on
// it) and one that fills during `cp` (the location on it). The daemon keeps running, says so in
// `sd status` and `sd doctor`, resumes when space returns, and a failed overwrite puts the old
// file back. Skipped, with the reason, where mounting is not allowed.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { Daemon, until } from './daemon-helpers.js';

/** A fresh 20 MB tmpfs; undefined (with the reason logged) where it cannot be mounted. */
function tmpfs(t: ExecutionContext): string | undefined {
  const dir = tempDir(t, 'sd-tmpfs-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    t.log(`skipped: cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()})`);
    return undefined;
  }
  t.teardown(() => void spawnSync('umount', ['-l', dir]));
  return dir;
}

/** Fills the filesystem of `dir` until about `leave` bytes are free; returns the filler's path. */
function fill(dir: string, leave: number): string {
  const st = statfsSync(dir);
  const free = st.bavail * st.bsize;
  const filler = join(dir, 'filler.bin');
  writeFileSync(filler, Buffer.alloc(Math.max(0, free - leave)));
  return filler;
}

interface Status {
  disk: { full: boolean; where?: string };
}

test('the disk of the data dir fills during indexing: the daemon keeps running, says so, and resumes', async (t) => {
  const mnt = tmpfs(t);
  if (!mnt) return t.pass();
  const base = tempDir(t, 'sd-full-');
  const root = join(base, 'loc');
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let f = 0; f < 150; f++) writeFileSync(join(root, `d${d}`, `file-with-a-longish-name-${f}.txt`), `${d}/${f}`);
  }
  const data = join(mnt, 'data');
  const d = new Daemon(t, data);
  t.is(d.start().code, 0);
  const filler = fill(mnt, 1024 * 1024);
  t.is(d.sd('location', 'add', root, '--no-watch').code, 0);
  await until('the disk to be reported full', () => d.json<Status>('status').disk.full, 60_000);
  const st = d.sd('status');
  t.is(st.code, 0, 'the daemon still answers');
  t.regex(st.out, /disk +full/i);
  const doc = d.sd('--json', 'doctor');
  t.regex(doc.out, /"full": true/);
  t.true(
    d.json<{ state: string; pausedBy?: string | null }[]>('job', 'list').every((j) => j.state !== 'failed'),
    'the job is paused, not failed',
  );
  rmSync(filler);
  await until(
    'the index job to resume and complete once space returned',
    () => d.json<{ state: string }[]>('job', 'list').every((j) => j.state === 'completed'),
    60_000,
  );
  t.false(d.json<Status>('status').disk.full);
  const ls = d.json<{ entries: { files: number | null }[] }>('ls', root);
  t.is(ls.entries.length, 40);
  t.true(d.json<{ ok: boolean }>('log', 'verify').ok);
  t.true(d.json<{ equal: boolean }>('replay', '--check').equal);
});

test('the disk of a location fills during cp: E_DISK_FULL naming the path, no partial copy, a failed overwrite puts the old file back', async (t) => {
  const mnt = tmpfs(t);
  if (!mnt) return t.pass();
  const root = join(mnt, 'loc');
  mkdirSync(join(root, 'dst'), { recursive: true });
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(6 * 1024 * 1024, 7));
  writeFileSync(join(root, 'dst', 'big.bin'), 'the old file');
  const d = new Daemon(t, join(tempDir(t, 'sd-full-'), 'data'));
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--wait', '--no-watch').code, 0);
  fill(mnt, 3 * 1024 * 1024);
  const over = d.sd('--json', 'cp', '--on-conflict', 'overwrite', join(root, 'big.bin'), join(root, 'dst'));
  t.is(Daemon.code(over), 'E_DISK_FULL', over.out);
  t.regex(over.out, /dst\/big\.bin/);
  t.is(readFileSync(join(root, 'dst', 'big.bin'), 'utf8'), 'the old file', 'the old file is back in place');
  t.deepEqual(d.json<unknown[]>('trash', 'list'), [], 'and the trash has no record of it');
  const plain = d.sd('--json', 'cp', join(root, 'big.bin'), join(root, 'copy.bin'));
  t.is(Daemon.code(plain), 'E_DISK_FULL', plain.out);
  t.false(readdirSync(root).includes('copy.bin'), 'no partial copy is left');
  t.is(d.sd('status').code, 0);
  t.true(d.json<{ equal: boolean }>('replay', '--check').equal);
});
