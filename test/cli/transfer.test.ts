// sd cp --device through the real `sd` binary against two real daemons on loopback: a 200 MB file
// and a 5,000-file folder arrive byte for byte (cmp, diff -r); the source is killed with -9 in the
// middle and restarted, and the transfer completes without the bytes already received being sent
// again; `sd sync status` shows the transfer with its rate and ETA while it runs; `sd config set
// transfer.limit` applies to the running daemon.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, realpathSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { pidOf, sd, sdJson, startDaemon, until } from './helpers.js';

interface Xfer {
  direction: string;
  bytesDone: number;
  bytesTotal: number;
  rate: number;
  eta: number | null;
  state: string;
}
interface JobInfo {
  state: string;
  message: string | null;
  done: number;
  total: number | null;
}

const MB = 1024 * 1024;
const BIG = 200 * MB;
const FILES = 5000;

test.serial('sd cp --device: 200 MB and 5,000 files, the source killed -9 and restarted midway', async (t) => {
  const da = tempDir(t, 'sd-xa-');
  const db = tempDir(t, 'sd-xb-');
  const ra = realpathSync(tempDir(t, 'sd-xfa-'));
  const rb = realpathSync(tempDir(t, 'sd-xfb-'));
  const fd = openSync(join(ra, 'big.bin'), 'w');
  for (let i = 0; i < BIG / (8 * MB); i++) writeSync(fd, randomBytes(8 * MB));
  closeSync(fd);
  mkdirSync(join(ra, 'many'));
  for (let d = 0; d < 50; d++) {
    mkdirSync(join(ra, 'many', `d${d}`));
    for (let i = 0; i < FILES / 50; i++) writeFileSync(join(ra, 'many', `d${d}`, `f${i}.txt`), `${d}/${i} `.repeat(i));
  }
  startDaemon(t, da, ['--p2p-port', '0']);
  startDaemon(t, db, ['--p2p-port', '0']);
  const a = sdJson<{ device: { id: string } }>(t, da, ['status']).device.id;
  t.is(sd(da, ['location', 'add', ra, '--wait']).code, 0);
  const code = sdJson<{ result: { code: string } }>(t, da, ['pair', 'invite']).result.code;
  t.is(sd(db, ['pair', 'join', code]).code, 0);
  t.is(sd(db, ['location', 'add', rb, '--wait']).code, 0);
  // B sees A's index (the preview of a pull reads it).
  await until(
    "B holds A's index",
    () => sd(db, ['--dry-run', 'cp', '--device', a, join(ra, 'big.bin'), join(ra, 'many'), rb]).code === 0,
    60_000,
  );
  // 20 MiB/s out of A, set on the running daemon: 200 MB take about 10 s, time to kill A midway.
  const lim = sd(da, ['config', 'set', 'transfer.limit', '20M']);
  t.is(lim.code, 0, lim.err);
  const started = sdJson<{ result: { job: string } }>(t, db, [
    'cp',
    '--device',
    a,
    '--no-wait',
    join(ra, 'big.bin'),
    join(ra, 'many'),
    rb,
  ]);
  const job = started.result.job;
  const info = (): JobInfo => sdJson<JobInfo>(t, db, ['job', 'info', job]);
  let seen: Xfer | undefined;
  await until(
    'a third of the bytes received',
    () => {
      const s = sd(db, ['--json', 'sync', 'status']);
      const x = s.code === 0 ? (JSON.parse(s.out) as { transfers?: Xfer[] }).transfers?.[0] : undefined;
      if (x && x.bytesDone > 60 * MB) seen = x;
      return !!seen;
    },
    120_000,
  );
  t.is(seen!.direction, 'in');
  t.true(seen!.rate > 0 && seen!.eta !== null, JSON.stringify(seen));
  t.true(seen!.rate < 40 * MB, `the limit holds: ${seen!.rate} bytes/s`);
  const human = sd(db, ['sync', 'status']);
  t.regex(human.out, /transfers[\s\S]*from .*\/s {2}ETA/);

  // kill -9 the source, then start it again: the transfer waits for the link and goes on.
  process.kill(pidOf(da)!, 'SIGKILL');
  await until('A gone', () => spawnSync('kill', ['-0', String(pidOf(da))]).status !== 0, 10_000);
  const before = info().done;
  startDaemon(t, da, ['--p2p-port', '0']);
  await until('the transfer ended', () => ['completed', 'failed', 'cancelled'].includes(info().state), 240_000);
  const end = info();
  t.is(end.state, 'completed', end.message ?? '');
  t.true(before > 0);

  t.is(spawnSync('cmp', [join(ra, 'big.bin'), join(rb, 'big.bin')]).status, 0, 'cmp: the 200 MB file is identical');
  const diff = spawnSync('diff', ['-r', join(ra, 'many'), join(rb, 'many')], { encoding: 'utf8' });
  t.is(diff.status, 0, `diff -r: ${diff.stdout.slice(0, 500)}`);

  // The log of B says where it came from, with the bytes that crossed the link: about the size
  // of the data once (a restart from zero would add the 60+ MB received before the kill).
  const log = sdJson<{ summary: string; verified: boolean | null }[]>(t, db, ['log', '--type', 'transfer']);
  const m = /copied (\d+) file\(s\) \((\d+) bytes\).*; (\d+) bytes over the link/.exec(log[0]!.summary);
  t.truthy(m, log[0]!.summary);
  t.is(Number(m![1]), FILES + 1);
  const total = Number(m![2]);
  const over = Number(m![3]);
  t.log(`${over} bytes over the link for ${total} bytes of files`);
  t.true(over >= total);
  t.true(over <= total + 16 * MB, `${over - total} bytes sent twice`);
});

test.serial('sd send to a device without an inbox is refused; with --accept ask: sd inbox list, accept', async (t) => {
  const da = tempDir(t, 'sd-sa-');
  const db = tempDir(t, 'sd-sb-');
  const ra = realpathSync(tempDir(t, 'sd-sfa-'));
  const inbox = join(realpathSync(tempDir(t, 'sd-sfb-')), 'Inbox');
  mkdirSync(inbox);
  writeFileSync(join(ra, 'slides.pdf'), 'the slides');
  startDaemon(t, da, ['--p2p-port', '0']);
  startDaemon(t, db, ['--p2p-port', '0']);
  const b = sdJson<{ device: { id: string } }>(t, db, ['status']).device.id;
  t.is(sd(da, ['location', 'add', ra, '--wait']).code, 0);
  const code = sdJson<{ result: { code: string } }>(t, da, ['pair', 'invite']).result.code;
  t.is(sd(db, ['pair', 'join', code]).code, 0);

  const refused = sd(da, ['send', join(ra, 'slides.pdf'), '--device', b]);
  t.not(refused.code, 0);
  t.regex(refused.err, /has no inbox/);
  t.regex(refused.err, /--inbox/);

  t.is(sd(db, ['location', 'add', inbox, '--inbox', '--accept', 'ask', '--wait']).code, 0);
  let sent: { code: number; out: string; err: string } | undefined;
  await until(
    "A knows B's inbox and B took the offer",
    () => (sent = sd(da, ['send', join(ra, 'slides.pdf'), '--device', b])).code === 0,
    60_000,
  );
  t.regex(sent!.out, /sd inbox accept/);
  const list = sd(db, ['inbox', 'list']);
  t.is(list.code, 0, list.err);
  t.regex(list.out, /after `sd inbox accept`/);
  t.regex(list.out, /pending/);
  const drops = sdJson<{ drops: { id: string; state: string }[] }>(t, db, ['inbox', 'list']).drops;
  t.is(drops.length, 1);
  const acc = sd(db, ['inbox', 'accept', drops[0]!.id.slice(0, 8)]);
  t.is(acc.code, 0, acc.err);
  t.is(readFileSync(join(inbox, 'slides.pdf'), 'utf8'), 'the slides');
  const again = sd(db, ['inbox', 'accept', drops[0]!.id.slice(0, 8)]);
  t.not(again.code, 0);
});
