// sd doctor (no daemon needed) and a daemon that refuses to start on a damaged database,
// naming the file.
import test from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../../src/core.js';
import { decodeEvent, encodeEvent } from '../../src/events/codec.js';
import { tempDir } from '../helpers.js';

const SD = fileURLToPath(new URL('../../../bin/sd.js', import.meta.url));
const sd = (dir: string, ...args: string[]) =>
  spawnSync(process.execPath, [SD, '--data-dir', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SD_MDNS: 'off', NO_COLOR: '1' },
    timeout: 60_000,
  });

async function dataDir(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; db: string; dev: string }> {
  const dir = tempDir(t);
  const core = await Core.open(dir, { services: false });
  for (let i = 0; i < 20; i++) await core.command('library.rename', { name: `n${i}` });
  const dev = core.device.id;
  await core.close();
  const db = join(
    dir,
    'libraries',
    readdirSync(join(dir, 'libraries')).find((f) => f.endsWith('.db'))!,
  );
  return { dir, db, dev };
}

test('doctor says a healthy data dir is healthy (exit 0), without a daemon', async (t) => {
  const { dir } = await dataDir(t);
  const r = sd(dir, '--json', 'doctor');
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; libraries: { events: number; badEvents: number }[] };
  t.true(out.ok);
  t.is(out.libraries[0]!.events, 42);
  t.is(out.libraries[0]!.badEvents, 0);
});

test('a tampered event: doctor names it and says this device cannot invent its own feed', async (t) => {
  const { dir, db, dev } = await dataDir(t);
  const d = new Database(db);
  const row = d.prepare('SELECT bytes FROM events WHERE dev = ? AND seq = 7').get(dev) as { bytes: Buffer };
  d.prepare('UPDATE events SET bytes = ? WHERE dev = ? AND seq = 7').run(
    encodeEvent({ ...decodeEvent(row.bytes), body: { name: 'evil' } }),
    dev,
  );
  d.close();
  const r = sd(dir, '--json', 'doctor');
  t.is(r.status, 1);
  const lib = (JSON.parse(r.stdout) as { libraries: { firstBad: string; ownFeedDamaged: boolean; advice: string[] }[] })
    .libraries[0]!;
  t.regex(lib.firstBad, new RegExp(`^${dev}#7 E_BAD_HASH`));
  t.true(lib.ownFeedDamaged);
  t.true(lib.advice.some((a) => /cannot be invented/.test(a)));
});

test('garbage in the middle or a truncated file: the daemon refuses to start naming the file; doctor reports it', async (t) => {
  const { dir, db } = await dataDir(t);
  const bytes = readFileSync(db);
  writeFileSync(db, Buffer.concat([bytes.subarray(0, 4096), Buffer.alloc(16384, 0x5a), bytes.subarray(4096 + 16384)]));
  const start = sd(dir, 'start');
  t.teardown(() => sd(dir, 'stop'));
  t.is(start.status, 1);
  t.true(start.stderr.includes(db), start.stderr);
  t.regex(start.stderr, /E_CORRUPT_DATABASE/);
  t.regex(start.stderr, /sd doctor/);
  const doc = sd(dir, 'doctor');
  t.is(doc.status, 1);
  t.true(doc.stdout.includes(db));
  truncateSync(db, 100);
  const again = sd(dir, 'start');
  t.is(again.status, 1);
  t.true(again.stderr.includes(db), again.stderr);
  const doc2 = JSON.parse(sd(dir, '--json', 'doctor').stdout) as { libraries: { opens: boolean; advice: string[] }[] };
  t.false(doc2.libraries[0]!.opens);
  t.regex(doc2.libraries[0]!.advice[0]!, /peer/);
});
