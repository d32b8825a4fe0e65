// Two paired daemons on one machine (two data dirs), through the real CLI: dupes and info know
// the device of each copy (the same path on two devices is two copies; a copy on another device
// is a backup, not waste), --device filters, and relative paths with --device are resolved here
// for this device and refused for another.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { sd, sdJson, startDaemon, until } from './helpers.js';

interface Group {
  size: number;
  copies: number;
  wasted: number;
  devices: number;
  paths: { path: string; device: string; deviceName: string | null }[];
}

test('dupes and info across two devices: backups are not waste, each copy names its device', async (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  const fa = tempDir(t); // only on laptop
  const fb = tempDir(t); // only on server
  const both = tempDir(t); // indexed by both: the same paths on two devices
  writeFileSync(join(fa, 'beach.jpg'), 'x'.repeat(4000));
  writeFileSync(join(fa, 'beach copy.jpg'), 'x'.repeat(4000));
  writeFileSync(join(fb, 'beach.jpg'), 'x'.repeat(4000));
  mkdirSync(join(both, 'docs'));
  writeFileSync(join(both, 'docs', 'only-here.txt'), 'y'.repeat(2000));
  startDaemon(t, a, ['--p2p-port', '0', '--device-name', 'laptop']);
  startDaemon(t, b, ['--p2p-port', '0', '--device-name', 'server']);
  const invite = sdJson<{ result: { code: string } }>(t, a, ['pair', 'invite']);
  const joined = sdJson<{ result: { library: string } }>(t, b, ['pair', 'join', invite.result.code]);
  const lib = joined.result.library;
  t.is(sd(a, ['location', 'add', fa, '--wait']).code, 0);
  t.is(sd(a, ['location', 'add', both, '--wait']).code, 0);
  t.is(sd(b, ['--library', lib, 'location', 'add', fb, '--wait']).code, 0);
  t.is(sd(b, ['--library', lib, 'location', 'add', both, '--wait']).code, 0);
  await until(
    "the server's index on the laptop",
    () =>
      sdJson<unknown[]>(t, a, ['search', 'beach', '--device', 'server']).length === 1 &&
      sdJson<unknown[]>(t, a, ['search', 'only-here', '--device', 'server']).length === 1,
    60_000,
  );

  // The beach photo: two copies on the laptop (one is waste), one on the server (a backup).
  const groups = sdJson<Group[]>(t, a, ['dupes']);
  t.is(groups.length, 1, JSON.stringify(groups));
  t.like(groups[0], { size: 4000, copies: 3, wasted: 4000, devices: 2 });
  t.deepEqual(groups[0]!.paths.map((p) => p.deviceName).sort(), ['laptop', 'laptop', 'server']);
  const human = sd(a, ['dupes']).out;
  t.regex(human, /3\.9 KiB wasted: 3 copies of 3\.9 KiB on 2 device\(s\)/);
  t.regex(human, /on laptop: 2 copies/);
  t.regex(human, /on server: 1 copy \(a backup of the others\)/);
  // The file indexed by both at the same path is two copies on two devices: no duplicate.
  t.false(human.includes('only-here'));
  t.deepEqual(sdJson<Group[]>(t, a, ['dupes', '--device', 'server']), []);
  t.is(sdJson<Group[]>(t, a, ['dupes', '--device', 'laptop']).length, 1);
  const stats = sdJson<{ wastedBytes: number; duplicateGroups: number }>(t, a, ['stats']);
  t.like(stats, { wastedBytes: 4000, duplicateGroups: 1 });

  // info: the copies with their devices; the same path on the server is a backup there.
  const here = join(both, 'docs', 'only-here.txt');
  const info = sd(a, ['info', here]);
  t.is(info.code, 0, info.err);
  t.regex(info.out, new RegExp(`copies\\s+${here.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+on server \\(a backup\\)`));
  const onServer = sd(a, ['info', '--device', 'server', here]);
  t.regex(onServer.out, /location .* on server/);
  t.regex(onServer.out, /copies .* on laptop \(a backup\)/);

  // Relative paths: resolved against this folder for this device, refused for another one.
  const rel = sd(a, ['info', '--device', 'laptop', join('docs', 'only-here.txt')], {}, both);
  t.is(rel.code, 0, rel.err);
  const remote = sd(a, ['info', '--device', 'server', join('docs', 'only-here.txt')], {}, both);
  t.is(remote.code, 2);
  t.regex(remote.err, /"docs\/only-here\.txt" is relative.*absolute path on server.*\(E_RELATIVE_PATH\)/);
  const ls = sd(a, ['ls', '--device', 'server', 'docs'], {}, both);
  t.is(ls.code, 2);
  t.is(sd(a, ['ls', '--device', 'server', join(both, 'docs')]).code, 0);
  const tagRemote = sd(a, ['tag', 'apply', 'x', '--device', 'server', 'beach.jpg'], {}, fb);
  t.is(tagRemote.code, 2);
});
