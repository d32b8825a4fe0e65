// Deep trees: 1,100 files whose paths are 2.2 KB long (Linux allows 4,096 bytes). A batch of
// 1,000 such entries is larger than an event may be, so the index and the file operations must
// cut their events by size as well as by count. Before they did, the first index failed.
import test from 'ava';
import { join } from 'node:path';
import { sizeLimitOf } from '../../src/events/catalogue.js';
import { assertConsistent, indexOf, setup } from './helpers.js';

const deep = Array.from({ length: 9 }, (_, i) => `d${i}_${'x'.repeat(240)}`).join('/');

test('a location of 1,100 files with 2.2 KB paths indexes, copies and stays consistent', async (t) => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 1100; i++) files[`${deep}/f${String(i).padStart(4, '0')}_${'y'.repeat(40)}`] = `file ${i}`;
  const s = await setup(t, files);
  const idx = indexOf(s.core, s.loc);
  t.is(idx.filter((e) => e[1] === 0).length, 1100, 'every file is indexed');
  t.true(
    idx.every((e) => e[1] !== 0 || e[3] !== null),
    'every file has its content id',
  );
  // A copy of the deep folder records 1,100 more long entries through the file operations' events.
  const out = await s.core.command('entry.cp', {
    sources: [join(s.root, 'd0_' + 'x'.repeat(240))],
    dest: join(s.root, 'copy'),
  });
  t.true(out.verify!.ok, JSON.stringify(out.verify));
  t.is(indexOf(s.core, s.loc).filter((e) => e[1] === 0).length, 2200);
  // Every event stayed under its type's limit, and more than one was needed for each kind of batch.
  const rows = s.core.libraries
    .resolve()
    .db.prepare(
      "SELECT type, COUNT(*) AS n, MAX(LENGTH(bytes)) AS biggest FROM events WHERE type LIKE 'entries.%' GROUP BY type",
    )
    .all() as { type: string; n: number; biggest: number }[];
  for (const r of rows) t.true(r.biggest < sizeLimitOf(r.type), `${r.type}: ${r.biggest} bytes`);
  t.true(rows.find((r) => r.type === 'entries.upserted')!.n >= 4, JSON.stringify(rows));
  await assertConsistent(t, s.core, s);
});
