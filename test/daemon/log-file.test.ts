import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { rotatingLogFile } from '../../src/daemon/log-file.js';
import { tempDir } from '../helpers.js';

test('daemon.log rotates at its size cap into daemon.log.1..3, drops the oldest, and stays 0600', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'daemon.log');
  const log = pino({}, rotatingLogFile(file, 10_000, 3));
  for (let i = 0; i < 2000; i++) log.warn({ i, pad: 'x'.repeat(40) }, 'refused a peer');
  log.flush();
  t.deepEqual(readdirSync(dir).sort(), ['daemon.log', 'daemon.log.1', 'daemon.log.2', 'daemon.log.3']);
  for (const f of readdirSync(dir)) {
    t.true(statSync(join(dir, f)).size <= 10_000, `${f} is within the cap`);
    t.is(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  const lines = (f: string): number[] =>
    readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { i: number }).i);
  const current = lines('daemon.log');
  const previous = lines('daemon.log.1');
  t.is(current.at(-1), 1999, 'the newest line is in daemon.log');
  t.is(previous.at(-1)! + 1, current[0], 'daemon.log.1 ends where daemon.log starts: no line lost at a rotation');
  t.is(lines('daemon.log.2').at(-1)! + 1, previous[0]);
});

test('a daemon.log left by an earlier run counts toward the cap', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'daemon.log');
  const first = pino({}, rotatingLogFile(file, 5_000, 2));
  for (let i = 0; i < 40; i++) first.info({ i, pad: 'y'.repeat(40) }, 'line');
  first.flush();
  const before = statSync(file).size;
  const second = pino({}, rotatingLogFile(file, 5_000, 2));
  for (let i = 0; i < 40; i++) second.info({ i, pad: 'y'.repeat(40) }, 'line');
  second.flush();
  t.true(before + statSync(file).size > 5_000 || readdirSync(dir).includes('daemon.log.1'));
  t.true(statSync(file).size <= 5_000);
  t.true(readdirSync(dir).includes('daemon.log.1'));
});
