// The write-ahead log copied back by a thread of its own (store/checkpoint.ts): a library that
// writes more than THREAD_CHECKPOINT_BYTES has its log copied back without the writing connection
// doing it, plain or encrypted; closing waits for the thread, and nothing is lost or left open.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3-multiple-ciphers';
import { readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
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

serial('a new library has 4 KiB pages, and the writer copies the log back itself only past 64 MiB', async (t) => {
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

/**
 * Whether another process finds byte 128 of the -shm (SQLite's DMS lock) held: a process that finds
 * it free takes itself for the first user and resets the live wal-index. Undefined without python3.
 */
function dmsHeld(path: string): boolean | undefined {
  const py = `import fcntl, os, struct
fd = os.open(${JSON.stringify(`${path}-shm`)}, os.O_RDWR)
r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 128, 1, 0))
print(struct.unpack('hhqqi4x', r)[0] != fcntl.F_UNLCK)`;
  const r = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
  if (r.error) return undefined;
  return r.stdout.trim() === 'True';
}

serial("reading the log header keeps SQLite's locks: another process still finds the database in use", async (t) => {
  const lib = await open(t);
  const before = dmsHeld(lib.path);
  if (before === undefined) return t.pass('python3 is not installed: the lock cannot be checked from another process');
  t.true(before, 'SQLite holds its lock on the wal-index');
  // What every commit does: the header read (and the thread's checkpoints past 16 MiB).
  fill(lib, 1);
  for (let i = 0; i < 3; i++) t.not(bytesBehind(lib.path), undefined);
  t.true(dmsHeld(lib.path), 'closing a descriptor of the -shm drops every lock of this process on it');
  fill(lib, 20);
  await waitForCheckpointsForTests();
  t.true(dmsHeld(lib.path), 'after the thread checkpointed');
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

/** Descriptors of this process (every thread's) open on the library's files, deleted ones too. */
const openOn = (path: string): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((l) => l.startsWith(path));

serial(
  'closing waits for the thread to let go: no descriptor stays on the files, and a reopen finds every row',
  async (t) => {
    const lib = await open(t);
    const path = lib.path;
    checkpointsForTests();
    fill(lib, 24);
    t.true(openOn(path).length > 0);
    // The checkpoint may still be running: close waits for it, then checkpoints and closes.
    await lib.close();
    t.true(checkpointsForTests().ran.length >= 1, 'the thread had the library open');
    t.deepEqual(openOn(path), [], 'neither the thread nor the header reads keep the files open');
    const again = Library.open(path, lib.id, loadOrCreateIdentity(join(path, '..')));
    t.is((again.db.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n, 24);
    fill(again, 1);
    await again.close();
    for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
    t.deepEqual(openOn(path), [], 'nothing holds a deleted library');
  },
);

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
