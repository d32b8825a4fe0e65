// The write-ahead log copied back by a thread of its own (store/checkpoint.ts): a library that
// writes more than THREAD_CHECKPOINT_BYTES has its log copied back without the writing connection
// doing it, plain or encrypted; closing waits for the thread, and nothing is lost or left open.
import test from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initHashing } from '../../src/events/hash.js';
import { loadOrCreateIdentity } from '../../src/identity.js';
import { Library } from '../../src/library/library.js';
import {
  bytesBehind,
  checkpointsForTests,
  THREAD_CHECKPOINT_BYTES,
  waitForCheckpointsForTests,
} from '../../src/store/checkpoint.js';
import { PAGE_SIZE, WRITER_CHECKPOINT_BYTES } from '../../src/store/database.js';
import { tempDir } from '../helpers.js';

// One test at a time: the thread and its record are the process's.
const serial = test.serial;
const KEY = 'ab'.repeat(32);

async function open(t: Parameters<typeof tempDir>[0], key?: string): Promise<Library> {
  await initHashing();
  const dir = tempDir(t);
  const id = '00000000-0000-4000-8000-00000000000c';
  const lib = Library.open(join(dir, `${id}.db`), id, loadOrCreateIdentity(dir), {
    create: true,
    ...(key ? { key } : {}),
  });
  t.teardown(() => lib.close());
  lib.db.exec('CREATE TABLE IF NOT EXISTS filler (b BLOB)');
  return lib;
}

/** Writes `mib` MiB through the library's writer, 1 MiB a commit (as a replication's batches commit). */
function fill(lib: Library, mib: number): void {
  const put = lib.db.prepare('INSERT INTO filler (b) VALUES (randomblob(?))');
  for (let i = 0; i < mib; i++) lib.commitAlone(() => put.run(1 << 20));
}

serial('a new library has 16 KiB pages, and the writer copies the log back itself only past 64 MiB', async (t) => {
  const lib = await open(t);
  t.is(lib.db.pragma('page_size', { simple: true }), PAGE_SIZE);
  t.is(lib.db.pragma('wal_autocheckpoint', { simple: true }), WRITER_CHECKPOINT_BYTES / PAGE_SIZE);
});

serial('past 16 MiB not copied back, a thread copies the log back while the writer goes on', async (t) => {
  const lib = await open(t);
  checkpointsForTests();
  fill(lib, 24);
  await waitForCheckpointsForTests();
  const { ran } = checkpointsForTests();
  t.true(ran.length >= 1, 'the thread ran a checkpoint');
  t.true(ran.every((r) => r.error === undefined && r.path === lib.path));
  t.true(ran.some((r) => (r.checkpointed ?? 0) * PAGE_SIZE >= THREAD_CHECKPOINT_BYTES));
  // 24 MiB were written and the writer's own checkpoint starts at 64: the thread copied them back.
  t.true(bytesBehind(lib.path)! < THREAD_CHECKPOINT_BYTES, `${bytesBehind(lib.path)} bytes not copied back`);
  const rows = (lib.db.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n;
  t.is(rows, 24);
});

serial('a small write starts no thread', async (t) => {
  const lib = await open(t);
  checkpointsForTests();
  fill(lib, 2);
  await waitForCheckpointsForTests();
  t.deepEqual(checkpointsForTests().ran, []);
});

serial('an encrypted library is copied back with its key, and stays unreadable without it', async (t) => {
  const lib = await open(t, KEY);
  checkpointsForTests();
  fill(lib, 20);
  await waitForCheckpointsForTests();
  const { ran } = checkpointsForTests();
  t.true(ran.length >= 1);
  t.true(
    ran.every((r) => r.error === undefined),
    JSON.stringify(ran),
  );
  const path = lib.path;
  await lib.close();
  const plain = new Database(path, { readonly: true });
  t.teardown(() => plain.close());
  t.throws(() => plain.prepare('SELECT count(*) FROM filler').get(), { any: true, message: /not a database/ });
});

serial('closing waits for the thread to let go: the files can go at once, and a reopen finds every row', async (t) => {
  const lib = await open(t);
  const path = lib.path;
  fill(lib, 24);
  // The checkpoint may still be running: close waits for it, then checkpoints and closes.
  await lib.close();
  t.false(existsSync(`${path}-wal`) && bytesBehind(path) !== undefined && bytesBehind(path)! > 0);
  const again = Library.open(path, lib.id, loadOrCreateIdentity(join(path, '..')));
  t.is((again.db.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n, 24);
  await again.close();
  for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
  // Nothing held the files open to write them again.
  await new Promise((r) => setTimeout(r, 200));
  t.false(existsSync(path) || existsSync(`${path}-wal`) || existsSync(`${path}-shm`));
});

serial('a log the thread cannot read is left to the writer: no index, a foreign file, a short file', (t) => {
  const dir = tempDir(t);
  t.is(bytesBehind(join(dir, 'none.db')), undefined);
  const db = new Database(join(dir, 'rollback.db'));
  db.exec('CREATE TABLE x (a)');
  t.is(bytesBehind(join(dir, 'rollback.db')), undefined, 'a database not in WAL mode has no wal-index');
  db.close();
  writeFileSync(join(dir, 'short.db-shm'), Buffer.alloc(10));
  t.is(bytesBehind(join(dir, 'short.db')), undefined, 'a short index');
  writeFileSync(join(dir, 'foreign.db-shm'), Buffer.alloc(4096, 7));
  t.is(bytesBehind(join(dir, 'foreign.db')), undefined, 'an index of another version');
});
