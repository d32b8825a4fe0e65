// Named pipes, sockets and devices in a location and inside a folder being removed: recorded
// with their own kind, never opened, nothing blocks; and `sd stop` ends within its bound even
// with a hashing thread stuck in the kernel. Through the real daemon and CLI.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { blockedOnFifo, Daemon, until } from './daemon-helpers.js';

const isRoot = process.getuid?.() === 0;

/** A FIFO, a socket (listened on until the test ends) and, as root, a character device at `dir`. */
async function specials(t: ExecutionContext, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  execFileSync('mkfifo', [join(dir, 'pipe')]);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(join(dir, 'sock'), r));
  t.teardown(() => void server.close());
  if (isRoot) execFileSync('mknod', [join(dir, 'null-dev'), 'c', '1', '3']);
}

interface Ls {
  entries: { name: string; kind: string; contentId: string | null }[];
}

async function setup(
  t: ExecutionContext,
  env: Record<string, string> = {},
): Promise<{ d: Daemon; root: string; base: string }> {
  const base = tempDir(t, 'sd-special-');
  const root = join(base, 'loc');
  await specials(t, root);
  await specials(t, join(root, 'dir'));
  writeFileSync(join(root, 'dir', 'plain.txt'), 'plain');
  writeFileSync(join(root, 'top.txt'), 'top');
  const d = new Daemon(t, join(base, 'data'), env);
  t.is(d.start().code, 0);
  return { d, root, base };
}

test('special files: indexed with their kind, never opened; rm of a folder holding them works; status answers', async (t) => {
  const { d, root } = await setup(t);
  const add = d.sd('location', 'add', root, '--wait');
  t.is(add.code, 0, add.err);
  const ls = d.json<Ls>('ls', root);
  const kinds = Object.fromEntries(ls.entries.map((e) => [e.name, e.kind]));
  t.is(kinds['pipe'], 'fifo');
  t.is(kinds['sock'], 'socket');
  if (isRoot) t.is(kinds['null-dev'], 'char-device');
  t.true(ls.entries.filter((e) => ['pipe', 'sock', 'null-dev'].includes(e.name)).every((e) => e.contentId === null));
  const jobs = d.json<{ state: string }[]>('job', 'list');
  t.true(
    jobs.every((j) => j.state === 'completed'),
    JSON.stringify(jobs),
  );
  // A folder holding them goes to the trash and comes back, then goes for good.
  t.is(d.sd('rm', join(root, 'dir')).code, 0);
  t.is(d.sd('status').code, 0, 'the daemon answers');
  t.is(d.sd('trash', 'restore').code, 0);
  t.true(existsSync(join(root, 'dir', 'pipe')));
  const perm = d.sd('--json', 'rm', '--permanent', '--yes', join(root, 'dir'));
  t.is(perm.code, 0, perm.out + perm.err);
  t.false(existsSync(join(root, 'dir')));
  // The special files at the top: removed one by one, and the pipe into the trash.
  t.is(d.sd('rm', join(root, 'pipe')).code, 0);
  t.false(existsSync(join(root, 'pipe')));
  t.true(d.json<{ equal: boolean }>('replay', '--check').equal);
  // A restart rescans the location: nothing hangs in identify.
  t.is(d.sd('stop').code, 0);
  t.is(d.start().code, 0);
  await until(
    'the reconciling rescan to finish',
    () => d.json<{ state: string }[]>('job', 'list').every((j) => j.state === 'completed'),
    30_000,
  );
});

test('cp of a folder holding special files copies the rest and says what it skipped', async (t) => {
  const { d, root } = await setup(t);
  t.is(d.sd('location', 'add', root, '--wait', '--no-watch').code, 0);
  const dry = d.json<{ plan: { warnings: string[] } }>('--dry-run', 'cp', join(root, 'dir'), join(root, 'copy'));
  t.regex(dry.plan.warnings.join('\n'), /named pipe\(s\), socket\(s\) or device\(s\).*not copied/);
  const r = d.sd('--json', 'cp', join(root, 'dir'), join(root, 'copy'));
  t.is(r.code, 0, r.out + r.err);
  t.deepEqual(readdirSync(join(root, 'copy')), ['plain.txt']);
});

test('sd stop ends within its bound with a hashing thread stuck in the kernel; the job resumes at the next start', async (t) => {
  const base = tempDir(t, 'sd-stall-');
  const root = join(base, 'loc');
  mkdirSync(root);
  for (let i = 0; i < 20; i++) writeFileSync(join(root, `f${i}.txt`), `f${i}`);
  const fifo = join(base, 'stall');
  execFileSync('mkfifo', [fifo]);
  const data = join(base, 'data');
  const d = new Daemon(t, data, { SD_TEST_HASH_STALL: fifo });
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', root, '--no-watch').code, 0);
  // A first index hashes its files as it walks them: wait for a thread of the daemon to be
  // blocked opening the FIFO (its kernel wait channel names the FIFO's partner wait).
  const pid = d.pid()!;
  const blocked = (): boolean => blockedOnFifo(pid);
  await until(
    'a hashing thread to block in the kernel',
    () => d.json<{ state: string }[]>('job', 'list').some((j) => j.state === 'running') && blocked(),
    30_000,
  );
  const t0 = Date.now();
  const stop = d.sd('stop');
  const ms = Date.now() - t0;
  t.is(stop.code, 0, stop.err);
  t.true(ms < 12_000, `sd stop took ${ms} ms (bound: 5 s grace + 1 s + 1 s, documented as 10 s)`);
  t.throws(() => process.kill(pid, 0), undefined, 'the daemon process is gone');
  t.regex(readFileSync(join(data, 'logs', 'daemon.log'), 'utf8'), /stuck in the kernel/, 'it was really stuck');
  const again = new Daemon(t, data);
  t.is(again.start().code, 0);
  await until(
    'the paused job to resume and complete',
    () => again.json<{ state: string }[]>('job', 'list').some((j) => j.state === 'completed'),
    30_000,
  );
  t.is(again.json<Ls>('ls', root).entries.filter((e) => e.contentId).length, 20);
});
