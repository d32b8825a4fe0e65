// The daemon's lifecycle through the real `sd` binary against temporary data dirs.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.js';

const SD = fileURLToPath(new URL('../../../bin/sd.js', import.meta.url));

export function sd(dir: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [SD, '--data-dir', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SD_MDNS: 'off', NO_COLOR: '1' },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function pidOf(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'sd.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Starts a daemon and makes sure it is stopped when the test ends, also on failure. */
export function startDaemon(t: Parameters<typeof tempDir>[0], dir: string): void {
  const r = sd(dir, 'start');
  t.teardown(() => {
    const pid = pidOf(dir);
    if (pid) {
      sd(dir, 'stop');
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  t.is(r.code, 0, r.err);
}

test('status says not running (exit 3) and other commands say how to start', (t) => {
  const dir = tempDir(t);
  const st = sd(dir, 'status');
  t.is(st.code, 3);
  t.regex(st.out, /not running/);
  const ls = sd(dir, 'library', 'list');
  t.is(ls.code, 3);
  t.regex(ls.err, /sd start/);
  const js = sd(dir, '--json', 'log');
  t.is(js.code, 3);
  t.is(JSON.parse(js.out).error.code, 'E_DAEMON_NOT_RUNNING');
});

test('start, status, double start, stop', (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  const st = sd(dir, '--json', 'status');
  t.is(st.code, 0, st.err);
  const s = JSON.parse(st.out);
  t.true(s.running);
  t.is(s.pid, pidOf(dir));
  t.deepEqual(Object.keys(s.services), ['JobManager', 'SyncService', 'NetworkService']);
  t.is(s.libraries[0].name, 'default');
  t.regex(s.device.id, /^[a-z2-7]{32}$/);
  for (const f of ['sd.sock', 'rpc.token', 'device.key']) t.is(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  const again = sd(dir, 'start');
  t.is(again.code, 1);
  t.regex(again.err, /already running/);
  const stop = sd(dir, 'stop');
  t.is(stop.code, 0, stop.err);
  t.is(sd(dir, 'status').code, 3);
  t.false(existsSync(join(dir, 'sd.pid')));
});

test('a stale pid file and socket left by a crash are recovered', (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  const pid = pidOf(dir)!;
  process.kill(pid, 'SIGKILL');
  for (
    let i = 0;
    i < 100 && existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
    i++
  )
    spawnSync('sleep', ['0.05']);
  t.true(existsSync(join(dir, 'sd.pid')));
  const st = sd(dir, 'status');
  t.is(st.code, 3);
  const again = sd(dir, 'start');
  t.is(again.code, 0, again.err);
  t.not(pidOf(dir), pid);
  t.is(sd(dir, 'status').code, 0);
  t.regex(readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8'), /recovered a stale pid file/);
});

test('library commands, log, verify and replay through the CLI', (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  t.is(sd(dir, 'library', 'create', 'work').code, 0);
  t.is(sd(dir, 'library', 'create', 'work').code, 1);
  t.is(sd(dir, '--library', 'work', 'library', 'rename', 'office').code, 0);
  const list = JSON.parse(sd(dir, '--json', 'library', 'list').out) as { name: string; current: boolean }[];
  t.deepEqual(list.map((l) => l.name).sort(), ['default', 'office']);
  t.is(sd(dir, 'library', 'use', 'office').code, 0);
  t.is(JSON.parse(sd(dir, '--json', 'library', 'info').out).name, 'office');
  const dry = sd(dir, '--dry-run', 'library', 'rename', 'nope');
  t.regex(dry.out, /dry run/);
  t.is(JSON.parse(sd(dir, '--json', 'library', 'info').out).name, 'office');
  const del = sd(dir, 'library', 'delete', 'default');
  t.is(del.code, 1);
  t.regex(del.err, /--yes/);
  t.is(sd(dir, 'library', 'delete', 'default', '--yes').code, 0);
  const log = JSON.parse(sd(dir, '--json', 'log', '--type', 'library.renamed').out) as { verified: boolean }[];
  t.is(log.length, 1);
  t.true(log[0]!.verified);
  const v = sd(dir, 'log', 'verify');
  t.is(v.code, 0);
  t.regex(v.out, /verified/);
  const r = sd(dir, 'replay', '--check');
  t.is(r.code, 0);
  t.regex(r.out, /equal/);
  const bad = sd(dir, 'log', '--limit', 'x');
  t.is(bad.code, 2);
  t.regex(bad.err, /E_BAD_INPUT/);
});

test('a data dir whose socket path is too long gets a clear error', (t) => {
  const dir = join(tempDir(t), 'x'.repeat(120));
  const r = sd(dir, 'start');
  t.not(r.code, 0);
  t.regex(r.err, /E_SOCKET_PATH_TOO_LONG/);
});
