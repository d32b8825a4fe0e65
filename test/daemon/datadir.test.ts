// The data dir: never indexed, never a location, never touched by a file operation, private
// (another user's or a too-open one refused ssh-style, 0600/0700 under umask 000), pseudo
// filesystems refused as locations, and an RPC op lookup that sees only its own operations.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRpc } from '../../src/rpc/client.js';
import { tempDir } from '../helpers.js';
import { Daemon, sleep } from '../entry/daemon-helpers.js';

const isRoot = process.getuid?.() === 0;
const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

test('a data dir under a location is excluded and said so; no events while idle; file ops on it refused', async (t) => {
  const base = tempDir(t, 'sd-home-');
  const home = join(base, 'home');
  const data = join(home, '.local', 'share', 'vdfs');
  mkdirSync(join(home, 'docs'), { recursive: true });
  writeFileSync(join(home, 'docs', 'a.txt'), 'a');
  const d = new Daemon(t, data);
  t.is(d.start().code, 0);
  const add = d.sd('--json', 'location', 'add', home, '--include-hidden', '--wait');
  t.is(add.code, 0, add.err);
  t.regex(add.out, /the data dir\) is inside this location: it is never indexed/);
  const ls = d.json<{ entries: { name: string }[] }>('ls', join(home, '.local', 'share'));
  t.deepEqual(ls.entries, [], 'the data dir is not in the index');
  const count = (): number => d.json<unknown[]>('log', '--limit', '100000').length;
  const before = count();
  await sleep(2_000); // the watcher is on: database writes in the data dir must not become events
  t.is(count(), before, 'no event appended while nobody touches a file');
  for (const p of [data, join(home, '.local'), join(data, 'libraries')]) {
    const r = d.sd('--json', 'rm', '--permanent', '--yes', p);
    t.is(Daemon.code(r), 'E_DATA_DIR', `${p}: ${r.out}`);
  }
  t.is(Daemon.code(d.sd('--json', 'mv', join(home, '.local'), join(home, 'docs'))), 'E_DATA_DIR');
  const inside = d.sd('--json', 'location', 'add', join(data, 'libraries'));
  t.is(Daemon.code(inside), 'E_LOCATION_IN_DATA_DIR', inside.out);
});

test('pseudo filesystems are refused as locations', (t) => {
  const d = new Daemon(t, join(tempDir(t, 'sd-pseudo-'), 'data'));
  t.is(d.start().code, 0);
  for (const p of ['/proc', '/sys', '/dev', '/proc/self']) {
    const r = d.sd('--json', 'location', 'add', p);
    t.is(Daemon.code(r), 'E_PSEUDO_FILESYSTEM', `${p}: ${r.out}`);
  }
});

test('under umask 000 every file the daemon makes is 0600 and every folder 0700 (WAL, SHM, logs)', (t) => {
  const base = tempDir(t, 'sd-umask-');
  const data = join(base, 'data');
  mkdirSync(join(base, 'loc'));
  writeFileSync(join(base, 'loc', 'f.txt'), 'f');
  const d = new Daemon(t, data, {}, '000');
  t.is(d.start().code, 0);
  t.is(d.sd('location', 'add', join(base, 'loc'), '--wait').code, 0);
  const files: string[] = [];
  const walk = (p: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      t.is(mode(p), '700', p);
      for (const n of readdirSync(p)) walk(join(p, n));
    } else files.push(p);
  };
  walk(data);
  for (const f of files) t.is(mode(f), '600', f);
  const names = files.map((f) => f.slice(data.length + 1));
  t.true(
    names.some((n) => n.endsWith('.db-wal')),
    names.join(' '),
  );
  t.true(names.some((n) => n.endsWith('.db-shm')));
  t.true(names.includes(join('logs', 'daemon.log')));
});

test('a data dir, socket or token that is not ours alone is refused, saying which and what to do', (t) => {
  const base = tempDir(t, 'sd-private-');
  const data = join(base, 'data');
  const d = new Daemon(t, data);
  t.is(d.start().code, 0);
  t.is(d.sd('stop').code, 0);
  chmodSync(data, 0o777);
  const open = d.sd('status');
  t.is(open.code, 1, open.out);
  t.regex(open.err, /too open.*chmod 700/);
  t.is(Daemon.code(d.sd('start')), 'E_NOT_PRIVATE');
  chmodSync(data, 0o700);
  writeFileSync(join(data, 'rpc.token'), 'a'.repeat(64));
  chmodSync(join(data, 'rpc.token'), 0o644);
  const tok = d.sd('--json', 'status');
  t.is(Daemon.code(tok), 'E_NOT_PRIVATE', tok.out);
  t.regex(tok.out, /rpc\.token.*chmod 600/);
});

test('a data dir created by another user is refused before anything is sent to it', (t) => {
  if (!isRoot) {
    t.log('skipped: creating another user needs root (useradd)');
    t.pass();
    return;
  }
  const user = `sdtest${process.pid % 100000}`;
  const add = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
  if (add.status !== 0) {
    t.log(`skipped: useradd failed: ${add.stderr}`);
    t.pass();
    return;
  }
  t.teardown(() => void spawnSync('userdel', [user]));
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const base = tempDir(t, 'sd-other-');
  chmodSync(base, 0o1777); // a shared sticky folder, like /tmp
  const data = join(base, 'data');
  mkdirSync(data, { mode: 0o700 });
  // The other user's fake daemon: a token and a pid file of theirs.
  writeFileSync(join(data, 'rpc.token'), 'f'.repeat(64), { mode: 0o600 });
  writeFileSync(join(data, 'sd.pid'), '1\n', { mode: 0o600 });
  for (const p of [data, join(data, 'rpc.token'), join(data, 'sd.pid')]) chownSync(p, uid, uid);
  const d = new Daemon(t, data);
  for (const args of [['status'], ['start'], ['library', 'list']]) {
    const r = d.sd(...args);
    t.is(r.code, 1, `${args.join(' ')}: ${r.out}${r.err}`);
    t.regex(r.err, new RegExp(`belongs to uid ${uid}, not to you`), args.join(' '));
    t.notRegex(r.err, /already running/);
  }
  t.is(statSync(data).uid, uid, 'nothing of theirs was changed');
  t.is(readFileSync(join(data, 'rpc.token'), 'utf8'), 'f'.repeat(64));
});

test('the RPC op lookup only sees its own operations (no __proto__, toString...)', async (t) => {
  const data = join(tempDir(t, 'sd-ops-'), 'data');
  const d = new Daemon(t, data);
  t.is(d.start().code, 0);
  const token = readFileSync(join(data, 'rpc.token'), 'utf8').trim();
  const c = await connectRpc({ socketPath: join(data, 'sd.sock'), token });
  t.teardown(() => c.close());
  for (const op of ['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
    const e = await c.call(op, {}).catch((err: unknown) => err);
    t.is((e as { code?: string }).code, 'E_UNKNOWN_OP', op);
  }
  t.is(((await c.call('status', {})) as { running: boolean }).running, true);
});
