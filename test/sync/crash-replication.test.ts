// kill -9 of a device in the middle of replicating a large feed: reopened, its log verifies,
// a replay of its log gives its projections, no event is stored twice, and once linked again it
// completes the feed and ends with the source's projection checksums.
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Core } from '../../src/core.js';
import { checksums } from '../../src/projections/index.js';
import { SEP, type EntryTuple } from '../../src/projections/entries.js';
import { onLines } from '../fixtures-child/util.js';
import { tempDir } from '../helpers.js';
import { newLocationId } from '../../src/projections/rules.js';
import { until } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';
const CHILD = fileURLToPath(new URL('../fixtures-child/replica-child.js', import.meta.url));

test('kill -9 during replication: the log verifies, replay matches, nothing is duplicated, and the feed completes after a restart', async (t) => {
  const a = await Core.open(tempDir(t), { services: false });
  t.teardown(() => a.close());
  await a.startPeers('127.0.0.1', 0);
  const la = a.libraries.resolve();
  const loc = newLocationId(a.device.id);
  la.write(() => la.append('location.added', { id: loc, path: '/on/a', name: 'a', watch: false, rules: {} }));
  // 300 events of 1,000 entries: long enough on the receiving side to be cut in the middle.
  const rows: EntryTuple[] = Array.from({ length: 300_000 }, (_, i) => [
    `d${Math.floor(i / 1000)}${SEP}f-${i}.txt`,
    0,
    i,
    1.7e12,
    i + 1,
    'text',
  ]);
  la.write(() => {
    for (let i = 0; i < rows.length; i += 1000) la.append('entries.upserted', { loc, e: rows.slice(i, i + 1000) });
  });
  la.flush();
  const total = (la.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  const code = (await a.command<{ code: string }>('pair.invite', {})).result!.code;

  const data = tempDir(t);
  const child = spawn(process.execPath, [CHILD, data, code], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<string | null>((r) => child.on('exit', (_c, signal) => r(signal)));
  let seen = 0;
  onLines(child.stdout, (l) => {
    seen = (JSON.parse(l) as { events: number }).events;
    // Part of the feed is stored, far from all of it: kill -9 now.
    if (seen >= 20 && seen < total - 50 && child.signalCode === null) child.kill('SIGKILL');
  });
  t.is(await exited, 'SIGKILL', stderr);
  t.true(seen >= 20 && seen < total - 50, `killed at ${seen} of ${total} events`);

  const b = await Core.open(data, { services: false });
  t.teardown(() => b.close());
  const lb = b.libraries.resolve(la.id);
  const stored = (lb.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  t.true(stored >= seen && stored < total, `${stored} events survived of ${total}`);
  const distinct = (
    lb.db.prepare('SELECT COUNT(*) AS n FROM (SELECT DISTINCT dev, seq FROM events)').get() as { n: number }
  ).n;
  t.is(distinct, stored, 'no event stored twice');
  t.true((await b.query<{ ok: boolean }>('log.verify', {}, { library: la.id })).ok);
  t.true((await b.query<{ equal: boolean }>('replay.check', {}, { library: la.id })).equal);
  // Linked again (it remembers A's address), it fetches the rest and ends equal.
  await b.startPeers('127.0.0.1', 0);
  const heads = (l: typeof la): string => JSON.stringify([...l.log.heads()].sort());
  await until('B completes the feed', () => heads(la) === heads(lb), 90_000);
  t.is((lb.db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n, rows.length);
  t.is(checksums(lb.db).total, checksums(la.db).total);
});
