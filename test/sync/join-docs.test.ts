// A new member's shared documents: the joiner projects the creator's documents from the log without
// a repo, and on first use hands copies of what it projected to the repo instead of loading the
// same changes twice. What it
// shows, what it stores and what it can edit must be what the log says, before and after a restart.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import type { Library } from '../../src/library/library.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';

const heads = (l: Library): string => JSON.stringify([...l.log.heads()].sort());
const plain = (doc: unknown): unknown => JSON.parse(JSON.stringify(doc));
const tagNames = async (c: Core): Promise<string[]> =>
  (await c.query<{ name: string }[]>('tag.list', {})).map((r) => r.name).sort();

test("a joiner's shared documents hold the creator's tags and notes, survive a restart, and take the joiner's own edits", async (t) => {
  const dirB = tempDir(t);
  const a = await Core.open(tempDir(t));
  let b = await Core.open(dirB);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const root = tempDir(t);
  writeFileSync(join(root, 'holiday.jpg'), 'sun');
  writeFileSync(join(root, 'receipt.pdf'), 'paid');
  await a.command('location.add', { path: root, watch: false });
  await until(
    'A indexed',
    async () => (await a.query<{ state: string }[]>('job.list', {})).every((j) => j.state === 'completed'),
    30_000,
  );
  // Shared changes after the documents were created: the joiner gets them in the same history.
  await a.command('tag.create', { name: 'trip', color: '#00ff00' });
  await a.command('tag.create', { name: 'taxes' });
  await a.command('tag.apply', { tag: 'trip', paths: [join(root, 'holiday.jpg')] });
  await a.command('note.set', { path: join(root, 'receipt.pdf'), text: 'keep ten years' });
  const la = a.libraries.resolve();
  const lib = la.id;

  await a.startPeers('127.0.0.1', 0);
  await b.startPeers('127.0.0.1', 0);
  const { code } = (await a.command<{ code: string }>('pair.invite', {})).result!;
  await b.command('pair.join', { code });
  await until('B holds A’s feed', () => heads(la) === heads(b.libraries.resolve(lib)), 30_000);
  const lb = b.libraries.resolve(lib);
  // The history projected without the repo (opened on first use, as at every start): the rows are there.
  t.is(lb.repo, undefined);
  t.deepEqual(await tagNames(b), ['taxes', 'trip']);
  await lb.ensureShared(b.device.id);
  await lb.sharedOpening;

  t.deepEqual(await tagNames(b), ['taxes', 'trip']);
  // The repo's documents, not only the SQLite rows, carry the creator's content.
  const docTags = (l: Library): string[] =>
    Object.values(l.shared.doc('tags').tags as Record<string, { name: string }>)
      .map((x) => x.name)
      .sort();
  t.deepEqual(docTags(lb), ['taxes', 'trip']);
  t.deepEqual(plain(lb.shared.doc('notes')), plain(la.shared.doc('notes')));
  t.true(JSON.stringify(plain(lb.shared.doc('notes'))).includes('keep ten years'));

  // The joiner's own edit travels back: its documents descend from the creator's.
  await b.command('tag.create', { name: 'from-b' });
  await until('A has B’s tag', async () => (await tagNames(a)).includes('from-b'), 30_000);
  await until('A and B level', () => heads(la) === heads(b.libraries.resolve(lib)), 30_000);

  // After a restart, B opens the documents from its own storage: same content, nothing lost.
  await b.close();
  b = await Core.open(dirB);
  const again = b.libraries.resolve(lib);
  await again.ensureShared(b.device.id);
  t.deepEqual(docTags(again), ['from-b', 'taxes', 'trip']);
  t.deepEqual(plain(again.shared.doc('notes')), plain(la.shared.doc('notes')));
  t.deepEqual(await tagNames(b), ['from-b', 'taxes', 'trip']);
});
