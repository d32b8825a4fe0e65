// A feed that streams a large index leaves the content-id index out while it stores the rows and
// builds it once at the end. The receiver must end with the same entries and a working index
// whatever happens to the stream: it completes, the link is cut, the peer goes quiet, two peers
// stream at once; and a small catch-up into a big library keeps its index.
import test from 'ava';
import type { Library } from '../../src/library/library.js';
import type { StoredEvent } from '../../src/events/log.js';
import { checksums } from '../../src/projections/index.js';
import { BulkStreams, setBulkStreamForTests } from '../../src/sync/bulk-index.js';
import { cidIndexHeldOut } from '../../src/library/cid-index.js';
import { openCore } from '../helpers.js';
import { addLocation } from '../entry/helpers.js';
import { device, folder, joinLibrary, link, synced, until } from '../support/linked.js';

const hasCidIndex = (l: Library): boolean =>
  !!l.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'entries_by_cid'").get();

/** Records the index statements a library's database runs. */
function watchIndexSql(l: Library): string[] {
  const seen: string[] = [];
  const exec = l.db.exec.bind(l.db);
  l.db.exec = (sql: string) => {
    if (/entries_by_cid/.test(sql)) seen.push(sql.trim().split(' ').slice(0, 2).join(' '));
    return exec(sql);
  };
  return seen;
}

const files = (n: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i % 7}/f${i}.txt`, `content ${i}`]));

const rowsEvent = (seq: number, rows: number): StoredEvent =>
  ({ seq, type: 'entries.upserted', body: { loc: 'x', e: Array(rows).fill([]) } }) as unknown as StoredEvent;

test.serial(
  'a large index streamed to a new member is stored without the content-id index, which is there again at the end',
  async (t) => {
    setBulkStreamForTests(100);
    t.teardown(() => setBulkStreamForTests(10_000));
    const a = await device(t);
    const b = await device(t);
    const la = a.libraries.resolve();
    await addLocation(a, folder(t, files(400)));
    const lb = await joinLibrary(a, b);
    const sql = watchIndexSql(lb);
    link(t, la, lb);
    await synced(la, lb);

    t.deepEqual(sql, ['DROP INDEX', 'CREATE INDEX'], 'dropped once for the stream, built once after it');
    t.true(hasCidIndex(lb));
    t.false(cidIndexHeldOut(lb));
    t.is(checksums(lb.db).tables.entries!.sum, checksums(la.db).tables.entries!.sum);
    // A lookup by content id finds the file through the index again.
    const { cid } = la.db.prepare("SELECT cid FROM entries WHERE name = 'f7.txt'").get() as { cid: string };
    t.is((lb.db.prepare('SELECT name FROM entries WHERE cid = ?').get(cid) as { name: string }).name, 'f7.txt');
    const plan = lb.db.prepare('EXPLAIN QUERY PLAN SELECT name FROM entries WHERE cid = ?').all(cid) as {
      detail: string;
    }[];
    t.true(
      plan.some((p) => p.detail.includes('entries_by_cid')),
      JSON.stringify(plan),
    );
  },
);

test.serial('a small catch-up into a library that holds many more entries keeps its index', async (t) => {
  setBulkStreamForTests(50);
  t.teardown(() => setBulkStreamForTests(10_000));
  const a = await device(t);
  const b = await device(t);
  const la = a.libraries.resolve();
  await addLocation(a, folder(t, files(600)));
  const lb = await joinLibrary(a, b);
  const l = link(t, la, lb);
  await synced(la, lb);
  l.close();
  const sql = watchIndexSql(lb);
  await addLocation(a, folder(t, files(60)));
  link(t, la, lb);
  await synced(la, lb);
  t.deepEqual(sql, [], '60 new entries into 600: the index stays');
  t.true(hasCidIndex(lb));
  t.is(checksums(lb.db).tables.entries!.sum, checksums(la.db).tables.entries!.sum);
});

test.serial(
  'a stream cut, gone quiet, or overlapping another gives the index back when the last one ends',
  async (t) => {
    setBulkStreamForTests(100, 150);
    t.teardown(() => setBulkStreamForTests(10_000));
    const lib = (await openCore(t)).libraries.resolve();
    t.true(hasCidIndex(lib));

    // Cut: the session closes mid-stream.
    const cut = new BulkStreams(lib);
    cut.before('peer1', [rowsEvent(1, 500)]);
    t.false(hasCidIndex(lib));
    cut.close();
    t.true(hasCidIndex(lib));

    // Below the threshold: nothing happens.
    const small = new BulkStreams(lib);
    small.before('peer1', [rowsEvent(1, 99), { seq: 2, type: 'tag.created', body: {} } as unknown as StoredEvent]);
    t.true(hasCidIndex(lib));

    // Two peers stream at once: the index comes back after both.
    const one = new BulkStreams(lib);
    const two = new BulkStreams(lib);
    one.before('peer1', [rowsEvent(1, 500)]);
    two.before('peer2', [rowsEvent(1, 500)]);
    one.after('peer1', true);
    t.false(hasCidIndex(lib), 'still out while the other stream runs');
    two.after('peer2', false);
    t.false(hasCidIndex(lib));

    // Quiet: the second stream's peer sends nothing more; its idle timer ends it.
    await until('the quiet stream ends', () => hasCidIndex(lib), 5_000);
    t.false(cidIndexHeldOut(lib));
    two.close(); // ending twice is harmless
    t.true(hasCidIndex(lib));
  },
);
