// The library database's schema version: a new library is at this build's version, a database
// from before versions existed is migrated on open with nothing lost, one from a newer vdfs is
// refused untouched, and a migration that fails leaves the database as it was.
import test from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { Core } from '../../src/core.js';
import { openDatabase } from '../../src/store/database.js';
import { migrate, SCHEMA_VERSION, schemaVersion } from '../../src/store/schema.js';
import { SdError } from '../../src/errors.js';
import { tempDir } from '../helpers.js';
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
