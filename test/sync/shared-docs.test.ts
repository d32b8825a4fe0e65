import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import type { Repo } from '@automerge/automerge-repo';
import {
  closeLibraryRepo,
  createLibraryDocs,
  openLibraryDocs,
  openLibraryRepo,
  type ChangeSet,
  type LibraryDocs,
} from '../../src/shared/docs.js';
import { assignTags, noteOf, putTag, setNote, tagsOfContent, type TagAssignment } from '../../src/shared/edits.js';
import { ASSIGN_SHARDS, DOC_NAMES } from '../../src/shared/schema.js';

interface Device {
  path: string;
  db: Database.Database;
  repo: Repo;
  close: () => Promise<void>;
}

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-shared-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One device: a library SQLite file and its repo; closed at the end of the test unless closed before. */
function openDevice(t: ExecutionContext, path = join(tempDir(t), 'library.db')): Device {
  const db = new Database(path);
  // As Library.open does: without WAL every automerge save is an fsync'd commit.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const repo = openLibraryRepo(db);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await closeLibraryRepo(repo);
    db.close();
  };
  t.teardown(close);
  return { path, db, repo, close };
}

const cid = (first: string): string => first + randomBytes(15).toString('hex') + '0';

/** Device B joins: it gets A's docs only through the change bytes of A's "created" event. */
async function pair(t: ExecutionContext): Promise<{ a: LibraryDocs; b: LibraryDocs; devA: Device; devB: Device }> {
  const devA = openDevice(t);
  const devB = openDevice(t);
  const a = await createLibraryDocs(devA.repo, { name: 'home' });
  const b = await openLibraryDocs(devB.repo, a.urls, a.allChanges());
  return { a, b, devA, devB };
}

test('device B receives the library documents through change bytes alone', async (t) => {
  const { a, b } = await pair(t);
  t.is(b.doc('root').name, 'home');
  t.deepEqual(
    { ...b.doc('root').docs },
    Object.fromEntries(DOC_NAMES.filter((n) => n !== 'root').map((n) => [n, a.urls[n]])),
  );
  for (const name of DOC_NAMES) t.deepEqual(b.handle(name).heads(), a.handle(name).heads(), name);
});

test('different tags added concurrently to the same content both survive the exchange', async (t) => {
  const { a, b } = await pair(t);
  const content = cid('7');
  const fromA = assignTags(a, [{ contentId: content, tagId: 'tag-red', assigned: true }]);
  const fromB = assignTags(b, [{ contentId: content, tagId: 'tag-blue', assigned: true }]);
  t.deepEqual(Object.keys(fromA), ['assign-7']);
  b.apply(fromA);
  a.apply(fromB);
  t.deepEqual(tagsOfContent(a, content), ['tag-blue', 'tag-red']);
  t.deepEqual(tagsOfContent(b, content), ['tag-blue', 'tag-red']);
});

test('a tag renamed differently on two devices shows the same winner on both', async (t) => {
  const { a, b } = await pair(t);
  const tagId = randomUUID();
  b.apply(putTag(a, tagId, { name: 'photos', color: '#ff0000' }));
  const renameA = putTag(a, tagId, { name: 'pictures' });
  const renameB = putTag(b, tagId, { name: 'images', color: '#00ff00' });
  a.apply(renameB);
  b.apply(renameA);
  const onA = a.doc('tags').tags[tagId];
  const onB = b.doc('tags').tags[tagId];
  t.deepEqual({ ...onA }, { ...onB });
  t.true(['pictures', 'images'].includes(onA!.name));
  t.is(onA!.color, '#00ff00', 'a field changed on one side only keeps that change');
});

test('applying the same change bytes twice is a no-op', async (t) => {
  const { a, b } = await pair(t);
  const content = cid('c');
  const set: ChangeSet = {
    ...setNote(a, content, 'holiday, 2019'),
    ...assignTags(a, [{ contentId: content, tagId: 't1', assigned: true }]),
  };
  t.deepEqual(b.apply(set).sort(), ['assign-c', 'notes']);
  const heads = b.handle('notes').heads();
  t.deepEqual(b.apply(set), [], 'nothing moved the second time');
  t.deepEqual(b.handle('notes').heads(), heads);
  t.is(noteOf(b, content), 'holiday, 2019');
  t.deepEqual(a.apply(set), [], 'the author applying its own change is a no-op too');
});

test('a bulk edit of 10,000 assignments makes one change per touched shard (its time is logged, not asserted)', async (t) => {
  const { a, b } = await pair(t);
  const edits: TagAssignment[] = [];
  for (let i = 0; i < 10_000; i++)
    edits.push({ contentId: cid('0123456789abcdef'[i % 16]!), tagId: `tag-${i % 7}`, assigned: true });
  const started = performance.now();
  const set = assignTags(a, edits, 'index batch');
  const took = performance.now() - started;
  const applyStart = performance.now();
  b.apply(set);
  const applyTook = performance.now() - applyStart;
  t.log(
    `bulk assign 10,000 -> ${Object.keys(set).length} changes: ${took.toFixed(0)} ms; applied on B in ${applyTook.toFixed(0)} ms`,
  );
  console.log(
    `shared-docs bulk: 10,000 assignments in ${took.toFixed(0)} ms (one change per shard), applied on peer in ${applyTook.toFixed(0)} ms`,
  );
  t.deepEqual(Object.keys(set).sort(), [...ASSIGN_SHARDS].sort());
  for (const shard of ASSIGN_SHARDS) t.is(set[shard]!.length, 1, shard);
  const total = ASSIGN_SHARDS.reduce((n, s) => n + Object.keys(b.doc(s).a).length, 0);
  t.is(total, 10_000);
  // Touching only one shard changes only that shard.
  const one = assignTags(a, [{ contentId: cid('e'), tagId: 'x', assigned: true }]);
  t.deepEqual(Object.keys(one), ['assign-e']);
});

test('after closing and reopening the SQLite files, the documents and their content are there', async (t) => {
  const { a, b, devA, devB } = await pair(t);
  const content = cid('4');
  const tagId = randomUUID();
  const set = {
    ...putTag(a, tagId, { name: 'work' }),
    ...assignTags(a, [{ contentId: content, tagId, assigned: true }]),
    ...setNote(a, content, 'draft'),
  };
  b.apply(set);
  const urls = a.urls;
  await devA.close();
  await devB.close();
  for (const path of [devA.path, devB.path]) {
    const dev = openDevice(t, path);
    const docs = await openLibraryDocs(dev.repo, urls);
    t.is(docs.doc('root').name, 'home');
    t.is(docs.doc('tags').tags[tagId]?.name, 'work');
    t.deepEqual(tagsOfContent(docs, content), [tagId]);
    t.is(noteOf(docs, content), 'draft');
    await dev.close();
  }
});

test('opening a library whose documents are neither stored nor received fails with a clear code', async (t) => {
  const { a } = await pair(t);
  const stranger = openDevice(t);
  const err = await t.throwsAsync(openLibraryDocs(stranger.repo, a.urls));
  t.is((err as Error & { code?: string }).code, 'E_LIBRARY_DOC_MISSING');
});
