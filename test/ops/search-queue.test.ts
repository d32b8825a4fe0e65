// The name index inside a group of writes: deletions and renames of indexed names are queued and
// applied once before the group commits. Search answers as if each had been applied at once, the
// index passes FTS5's integrity check, and a rolled-back unit or group leaves it exact.
import test from 'ava';
import { setup } from '../entry/helpers.js';
import { catchUpSearchIndex, searchIndexCheck, searchIndexLag } from '../../src/projections/search-index.js';
import type { Library } from '../../src/library/library.js';

interface Hit {
  name: string;
}

const rows = (n: number, prefix: string): [string, number, number, number, number, string][] =>
  Array.from({ length: n }, (_, i) => [`${prefix}-${i}.txt`, 0, i, 1.7e12 + i, 1000 + i, 'text']);

/** A location holding `n` names the index already covers (caught up), as after a first index. */
async function indexed(t: Parameters<typeof setup>[0], n: number) {
  const { core, loc } = await setup(t, { 'seed.txt': 's' });
  const lib = core.libraries.resolve();
  lib.write(() => lib.append('entries.upserted', { loc, e: rows(n, 'wombat') }));
  lib.flush();
  lib.flushSearchIndex();
  const names = async (query: string): Promise<string[]> =>
    (await core.query<Hit[]>('search', { query, limit: 10_000 })).map((h) => h.name).sort();
  return { core, lib, loc, names };
}

const queued = (lib: Library): number =>
  (lib.db.prepare('SELECT COUNT(*) AS n FROM entries_fts_queue').get() as { n: number }).n;

test('deletions, renames, a rename then a delete and a delete then a re-add in one group: search and the index stay exact', async (t) => {
  const { lib, loc, names } = await indexed(t, 300);
  lib.write(() => lib.append('entries.deleted', { loc, keys: ['wombat-1.txt', 'wombat-2.txt'] }));
  lib.write(() => lib.append('entries.moved', { loc, moves: [['wombat-3.txt', 'numbat-3.txt']] }));
  lib.write(() => lib.append('entries.moved', { loc, moves: [['wombat-4.txt', 'numbat-4.txt']] }));
  lib.write(() => lib.append('entries.deleted', { loc, keys: ['numbat-4.txt'] }));
  lib.write(() => lib.append('entries.moved', { loc, moves: [['wombat-5.txt', 'numbat-5.txt']] }));
  lib.write(() => lib.append('entries.moved', { loc, moves: [['numbat-5.txt', 'quokka-5.txt']] }));
  // The last row deleted and a new one added: SQLite may give it the freed rowid.
  lib.write(() => lib.append('entries.deleted', { loc, keys: ['wombat-299.txt'] }));
  lib.write(() => lib.append('entries.upserted', { loc, e: [['quokka-new.txt', 0, 1, 1.7e12, 5, 'text']] }));
  t.true(queued(lib) > 0, 'the group queued its changes to the name index');
  lib.flush();
  t.is(queued(lib), 0);
  t.deepEqual(await names('numbat'), ['numbat-3.txt']);
  t.deepEqual(await names('quokka'), ['quokka-5.txt', 'quokka-new.txt']);
  const wombats = await names('wombat');
  t.is(wombats.length, 300 - 6);
  for (const gone of ['wombat-1.txt', 'wombat-2.txt', 'wombat-3.txt', 'wombat-4.txt', 'wombat-5.txt', 'wombat-299.txt'])
    t.false(wombats.includes(gone), gone);
  // The re-added row took the freed id; like every new row it waits for the catch-up, which then
  // finds the index exact (no name of the deleted row left under that id).
  t.is(searchIndexLag(lib.db), 1);
  t.deepEqual(searchIndexCheck(lib.db), { ok: true, detail: 'the name index matches the entries' });
});

test('a unit rolled back inside a deferring group, and a whole group rolled back, leave the name index exact', async (t) => {
  const { lib, loc, names } = await indexed(t, 50);
  lib.write(() => lib.append('entries.deleted', { loc, keys: ['wombat-1.txt'] }));
  t.throws(() =>
    lib.write(() => {
      lib.append('entries.moved', { loc, moves: [['wombat-2.txt', 'numbat-2.txt']] });
      throw new Error('the unit fails');
    }),
  );
  lib.flush();
  t.deepEqual(await names('numbat'), []);
  t.true((await names('wombat')).includes('wombat-2.txt'));
  t.false((await names('wombat')).includes('wombat-1.txt'));
  // A group that never commits (what a full disk does to one): nothing of it reaches the index.
  lib.write(() => lib.append('entries.deleted', { loc, keys: ['wombat-3.txt'] }));
  lib.db.exec('ROLLBACK');
  let threw = false;
  try {
    lib.flush();
  } catch {
    threw = true;
  }
  t.true(threw, 'its commit failed');
  t.true((await names('wombat')).includes('wombat-3.txt'));
  t.deepEqual(searchIndexCheck(lib.db, false), { ok: true, detail: 'the name index matches the entries' });
  // Outside a group (a plain transaction), the index is kept at once, as before.
  lib.db.transaction(() => lib.db.prepare("DELETE FROM entries_t WHERE name = 'wombat-4.txt'").run())();
  t.is(queued(lib), 0);
  t.false((await names('wombat')).includes('wombat-4.txt'));
  t.deepEqual(searchIndexCheck(lib.db, false), { ok: true, detail: 'the name index matches the entries' });
});

test('the integrity check inside a deferring group applies what the group queued first', (t) => {
  return indexed(t, 20).then(({ lib, loc }) => {
    lib.write(() => lib.append('entries.moved', { loc, moves: [['wombat-1.txt', 'numbat-1.txt']] }));
    lib.write(() => t.true(searchIndexCheck(lib.db, false).ok));
    lib.flush();
    t.true(searchIndexCheck(lib.db, false).ok);
  });
});

test('a catch-up that runs inside a group (its timer fires between two units) leaves the index exact when the group then renames or deletes the row that took a freed id', async (t) => {
  for (const then of ['rename', 'delete'] as const) {
    const { lib, loc, names } = await indexed(t, 20);
    // One group: the last row goes, a new row takes its id, the catch-up indexes it, then it changes.
    lib.write(() => lib.append('entries.deleted', { loc, keys: ['wombat-19.txt'] }));
    lib.write(() => lib.append('entries.upserted', { loc, e: [['quokka-new.txt', 0, 1, 1.7e12, 5, 'text']] }));
    t.true(lib.db.inTransaction, 'the group is still open');
    catchUpSearchIndex(lib.db, 4000);
    if (then === 'rename')
      lib.write(() => lib.append('entries.moved', { loc, moves: [['quokka-new.txt', 'numbat-new.txt']] }));
    else lib.write(() => lib.append('entries.deleted', { loc, keys: ['quokka-new.txt'] }));
    lib.flush();
    t.deepEqual(await names('quokka'), [], then);
    t.deepEqual(await names('numbat'), then === 'rename' ? ['numbat-new.txt'] : [], then);
    t.deepEqual(searchIndexCheck(lib.db), { ok: true, detail: 'the name index matches the entries' }, then);
  }
});
