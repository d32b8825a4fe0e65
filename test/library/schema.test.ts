// The library database's schema version: a new library is at this build's version, a database
// from before versions existed is migrated on open with nothing lost, one from a newer vdfs is
// refused untouched, and a migration that fails leaves the database as it was.
import test from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { Core } from '../../src/core.js';
import { openDatabase } from '../../src/store/database.js';
import { migrate, SCHEMA_VERSION, schemaVersion } from '../../src/store/schema.js';
import { SdError } from '../../src/errors.js';
import { openCore, tempDir } from '../helpers.js';
import { SEP, type EntryTuple } from '../../src/projections/entries.js';
import { newLocationId } from '../../src/projections/rules.js';
import { checksums } from '../../src/projections/index.js';
import { doctor } from '../../src/ops/doctor/check.js';
import { join } from 'node:path';

const tables = (db: Database.Database): string[] =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);

async function libraryWithATag(dir: string): Promise<string> {
  const core = await Core.open(dir);
  try {
    await core.command('tag.create', { name: 'kept-through-migration' });
    return core.libraries.resolve().path;
  } finally {
    await core.close();
  }
}

test('a new library is at the current schema version, with the log and every operational table', async (t) => {
  const path = await libraryWithATag(tempDir(t));
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  t.is(schemaVersion(db), SCHEMA_VERSION);
  for (const name of ['events', 'jobs', 'job_errors', 'intents', 'trust_anchors', 'automerge_store', 'shared_heads'])
    t.true(tables(db).includes(name), name);
});

test('a database made before schema versions is migrated on open; its events and projections stay', async (t) => {
  const dir = tempDir(t);
  const path = await libraryWithATag(dir);
  const old = new Database(path);
  old.exec('DROP TABLE intents; DROP TABLE trust_anchors');
  old.pragma('user_version = 0');
  const events = (old.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  old.close();
  const core = await Core.open(dir);
  t.teardown(() => core.close());
  const lib = core.libraries.resolve();
  t.is(schemaVersion(lib.db), SCHEMA_VERSION);
  t.true(tables(lib.db).includes('intents'));
  t.is((lib.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, events);
  const tags = await core.query<{ name: string }[]>('tag.list', {});
  t.deepEqual(
    tags.map((x) => x.name),
    ['kept-through-migration'],
  );
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
});

test('a database from a newer vdfs is refused with E_LIBRARY_FORMAT and left as it was', async (t) => {
  const path = await libraryWithATag(tempDir(t));
  const newer = new Database(path);
  newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  newer.close();
  const e = t.throws(() => openDatabase(path), { instanceOf: SdError });
  t.is(e?.code, 'E_LIBRARY_FORMAT');
  t.regex(e?.message ?? '', /newer vdfs/);
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  t.is(schemaVersion(db), SCHEMA_VERSION + 1);
});

test('a migration step that fails rolls back every step: the version and the tables are as before', (t) => {
  const path = join(tempDir(t), 'half.db');
  const db = new Database(path);
  t.teardown(() => db.close());
  const steps = [
    (d: Database.Database) => d.exec('CREATE TABLE first_step (x INTEGER)'),
    () => {
      throw new Error('disk trouble in step 2');
    },
  ];
  t.throws(() => migrate(db, path, steps), { message: /disk trouble/ });
  t.is(schemaVersion(db), 0);
  t.false(tables(db).includes('first_step'));
  migrate(db, path, steps.slice(0, 1));
  t.is(schemaVersion(db), 1);
  t.true(tables(db).includes('first_step'));
});

test('a library from schema 2 (entries in one table, with their location ids) moves to entries_t on open: rows, search, checksums and later events as before', async (t) => {
  const dir = tempDir(t);
  const k = (p: string): string => p.replaceAll('/', SEP);
  const file = (p: string, size = 5): EntryTuple => [k(p), 0, size, 1, 2, 'text'];
  let l1 = '';
  let l2 = '';
  let id = '';
  let before: string;
  {
    const core = await Core.open(dir);
    const lib = core.libraries.resolve();
    id = lib.id;
    [l1, l2] = [newLocationId(core.device.id), newLocationId(core.device.id)];
    lib.write(() => {
      for (const loc of [l1, l2]) {
        lib.append('location.added', { id: loc, path: `/nowhere/${loc}`, name: 'l', watch: false, rules: {} });
        lib.append('entries.upserted', {
          loc,
          e: [[k('d'), 1, 0, 1, 1, 'folder'], file('d/wombat.txt'), file('d/koala.txt'), file('top.txt', 7)],
        });
      }
    });
    lib.flush();
    lib.flushSearchIndex();
    before = checksums(lib.db).total;
    // The layout before schema 3: one table, each row with its location's 43-character id.
    lib.db.exec(`DROP VIEW entries;
      CREATE TABLE entries (id INTEGER PRIMARY KEY, loc TEXT NOT NULL, key TEXT NOT NULL, parent TEXT NOT NULL,
        name TEXT NOT NULL, t INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, inode INTEGER NOT NULL,
        kind TEXT NOT NULL, cid TEXT, dsize INTEGER, dfiles INTEGER, UNIQUE (loc, key));
      INSERT INTO entries SELECT e.id, n.id, e.key, e.parent, e.name, e.t, e.size, e.mtime, e.inode, e.kind, e.cid,
        e.dsize, e.dfiles FROM entries_t e JOIN loc_numbers n ON n.n = e.loc;
      DROP TABLE entries_t; DROP TABLE loc_numbers;
      CREATE INDEX entries_by_parent ON entries (loc, parent, name);`);
    lib.db.pragma('user_version = 2');
    await core.close();
  }
  // `sd doctor` reads the file as it is, before any open moves it: it compares the old table too.
  const old = new Database(join(dir, 'libraries', `${id}.db`));
  const row = "UPDATE entries SET size = ? WHERE name = 'top.txt' AND loc = ?";
  const projections = async (): Promise<unknown> => (await doctor(dir)).libraries[0]!.projections;
  t.deepEqual(await projections(), { equal: true, differing: [], mangled: 0 });
  old.prepare(row).run(999, l1);
  t.deepEqual(await projections(), { equal: false, differing: ['entries'], mangled: 0 }, 'a planted size is seen');
  old.prepare(row).run(7, l1);
  old.close();
  const core = await openCore(t, dir);
  const lib = core.libraries.resolve();
  t.is(schemaVersion(lib.db), SCHEMA_VERSION);
  t.false(tables(lib.db).includes('entries'), 'entries is a view now');
  t.true(tables(lib.db).includes('entries_t'));
  const onTable = lib.db
    .prepare(
      "SELECT name FROM sqlite_master WHERE tbl_name = 'entries_t' AND type IN ('index', 'trigger') ORDER BY name",
    )
    .all()
    .map((r) => (r as { name: string }).name);
  for (const name of ['entries_by_cid', 'entries_by_parent', 'entries_fts_del1', 'entries_unidentified'])
    t.true(onTable.includes(name), `${name} is made again on entries_t`);
  t.is(checksums(lib.db).total, before, 'the same rows, with the same location ids');
  const hits = async (query: string): Promise<string[]> =>
    (await core.query<{ path: string }[]>('search', { query }))
      .map((h) => h.path.replace(l1, 'L1').replace(l2, 'L2'))
      .sort();
  t.deepEqual(
    await hits('wombat'),
    ['/nowhere/L1/d/wombat.txt', '/nowhere/L2/d/wombat.txt'],
    'the name index still finds the moved rows',
  );
  // Events after the move land in the new table: a removal leaves the name index, an upsert joins it.
  lib.write(() => lib.append('entries.deleted', { loc: l1, keys: [k('d/wombat.txt')] }));
  lib.write(() => lib.append('entries.upserted', { loc: l2, e: [file('d/wombat two.txt')] }));
  lib.flushSearchIndex();
  t.deepEqual(await hits('wombat'), ['/nowhere/L2/d/wombat two.txt', '/nowhere/L2/d/wombat.txt']);
  lib.flush();
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal, 'a replay of the log gives the same rows');
});
