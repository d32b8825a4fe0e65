// sd search (filters combined), sd dupes and sd stats on an indexed tree, checked against what
// is on the disk; and that answers follow changes (no stale cache, no lagging name index).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { idle, setup } from '../entry/helpers.js';
import { catchUpSearchIndex, searchIndexCheck, searchIndexLag } from '../../src/projections/search-index.js';

interface Hit {
  name: string;
  path: string;
  kind: string;
  size: number;
}
interface Stats {
  files: number;
  bytes: number;
  folders: number;
  unidentified: number;
  duplicateGroups: number;
  wastedBytes: number;
  byKind: { kind: string; files: number; bytes: number }[];
  byLocation: { id: string; files: number; bytes: number }[];
  byDevice: { dev: string; files: number; bytes: number }[];
}
interface Group {
  contentId: string;
  size: number;
  copies: number;
  wasted: number;
  paths: { path: string }[];
}

const big = 'B'.repeat(5000);
const FILES = {
  'photos/holiday-beach.jpg': 'jpg-bytes-1',
  'photos/holiday-beach copy.jpg': 'jpg-bytes-1',
  'photos/2024/Holiday-Mountains.png': 'png-bytes',
  'docs/holiday-plan.md': '# plan\n',
  'docs/report-final.pdf': big,
  'docs/old/report-final (1).pdf': big,
  'docs/old/report-final (2).pdf': big,
  'music/tune.mp3': 'mp3',
  'notes.txt': 'hello',
};

test('search: substring match combined with ext, kind, size, location and tag filters; limit and sort', async (t) => {
  const { core, root } = await setup(t, FILES);
  const names = (hits: Hit[]): string[] => hits.map((h) => h.name).sort();
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'holiday' })), [
    'Holiday-Mountains.png',
    'holiday-beach copy.jpg',
    'holiday-beach.jpg',
    'holiday-plan.md',
  ]);
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'holiday', ext: 'jpg' })), [
    'holiday-beach copy.jpg',
    'holiday-beach.jpg',
  ]);
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'holiday', kind: 'image' })), [
    'Holiday-Mountains.png',
    'holiday-beach copy.jpg',
    'holiday-beach.jpg',
  ]);
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'report', minSize: 1000 })), [
    'report-final (1).pdf',
    'report-final (2).pdf',
    'report-final.pdf',
  ]);
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'holiday', maxSize: 9 })), [
    'Holiday-Mountains.png',
    'holiday-plan.md',
  ]);
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'ol', kind: 'folder' })), ['old']);
  t.is((await core.query<Hit[]>('search', { query: 'report', limit: 2 })).length, 2);
  const bySize = await core.query<Hit[]>('search', { query: 'e', sort: 'size', limit: 3 });
  t.true(
    bySize.every((h) => h.size === 5000),
    JSON.stringify(bySize),
  );
  const hit = (await core.query<Hit[]>('search', { query: 'tune' }))[0]!;
  t.is(hit.path, join(root, 'music', 'tune.mp3'));
  t.is(hit.kind, 'audio');
  // An unknown location is an error, not "no match".
  await t.throwsAsync(core.query('search', { query: 'holiday', location: 'no-such-location' }), {
    code: 'E_LOCATION_NOT_FOUND',
  });
  await core.command('tag.create', { name: 'keep' });
  await core.command('tag.apply', { tag: 'keep', paths: [join(root, 'photos', 'holiday-beach.jpg')] });
  // The tag is on the content: the copy carries it too.
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'holiday', tag: 'keep' })), [
    'holiday-beach copy.jpg',
    'holiday-beach.jpg',
  ]);
  await t.throwsAsync(core.query('search', { query: 'x', modifiedAfter: 'yesterday-ish' }), {
    message: /not an ISO date/,
  });
});

test('search finds an entry the moment it is committed, before the name index catches up', async (t) => {
  const { core, loc } = await setup(t, { 'a.txt': 'a' });
  const lib = core.libraries.resolve();
  // What an index batch does; the trigram index catches up only once writes pause.
  lib.write(() => lib.append('entries.upserted', { loc, e: [['fresh-quokka.txt', 0, 3, Date.now(), 99, 'text']] }));
  lib.flush();
  t.deepEqual(
    (await core.query<Hit[]>('search', { query: 'quokka' })).map((h) => h.name),
    ['fresh-quokka.txt'],
  );
  t.deepEqual(
    (await core.query<Hit[]>('search', { query: 'QUOKKA', ext: 'txt' })).map((h) => h.name),
    ['fresh-quokka.txt'],
  );
});

test('the name index catches up in chunks across deleted rows, and names removed before it did are never found', async (t) => {
  const { core, loc } = await setup(t, { 'a.txt': 'a' });
  const lib = core.libraries.resolve();
  lib.flushSearchIndex();
  const names = Array.from({ length: 30 }, (_, i) => `wombat-${String(i).padStart(2, '0')}.txt`);
  lib.write(() =>
    lib.append('entries.upserted', { loc, e: names.map((n, i) => [n, 0, 3, 1_700_000_000_000, 1000 + i, 'text']) }),
  );
  // Every third one goes before the index has seen it: ids with gaps, inside and at the end of a chunk.
  const gone = names.filter((_, i) => i % 3 === 2);
  lib.write(() => lib.append('entries.deleted', { loc, keys: gone }));
  lib.flush();
  t.is(searchIndexLag(lib.db), 20);
  t.is(catchUpSearchIndex(lib.db, 7), 7, 'a chunk takes at most its size');
  t.is(searchIndexLag(lib.db), 13);
  let rounds = 0;
  while (catchUpSearchIndex(lib.db, 7) > 0) rounds++;
  t.is(rounds, 2);
  t.is(searchIndexLag(lib.db), 0);
  t.true(searchIndexCheck(lib.db, false).ok, 'the index holds exactly the names of its rows');
  const hits = (await core.query<Hit[]>('search', { query: 'wombat', limit: 100 })).map((h) => h.name).sort();
  t.deepEqual(
    hits,
    names.filter((n) => !gone.includes(n)),
  );
});

test('dupes: groups of identical content, biggest waste first, --min-size; stats add up to the disk and follow changes', async (t) => {
  const { core, root, loc } = await setup(t, FILES);
  const groups = await core.query<Group[]>('dupes', {});
  t.deepEqual(
    groups.map((g) => [g.size, g.copies, g.wasted]),
    [
      [5000, 3, 10_000],
      [11, 2, 11],
    ],
  );
  t.deepEqual(
    groups[0]!.paths.map((p) => p.path).sort(),
    ['docs/old/report-final (1).pdf', 'docs/old/report-final (2).pdf', 'docs/report-final.pdf'].map((p) =>
      join(root, p),
    ),
  );
  t.deepEqual(
    (await core.query<Group[]>('dupes', { minSize: 100 })).map((g) => g.size),
    [5000],
  );

  const bytes = Object.values(FILES).reduce((n, b) => n + Buffer.byteLength(b), 0);
  const s = await core.query<Stats>('stats', {});
  t.like(s, { files: 9, bytes, folders: 5, unidentified: 0, duplicateGroups: 2, wastedBytes: 10_011 });
  t.deepEqual(
    s.byLocation.map((l) => [l.id, l.files, l.bytes]),
    [[loc, 9, bytes]],
  );
  t.deepEqual(
    s.byDevice.map((d) => [d.dev, d.files, d.bytes]),
    [[core.device.id, 9, bytes]],
  );
  t.deepEqual(
    s.byKind.find((k) => k.kind === 'document'),
    { kind: 'document', files: 3, bytes: 15_000 },
  );
  t.is(
    s.byKind.reduce((n, k) => n + k.files, 0),
    9,
  );

  // One more copy of the big file: the next answer says so (nothing cached across a change).
  writeFileSync(join(root, 'music', 'report-again.pdf'), big);
  await core.command('location.rescan', { ref: loc });
  await idle(core);
  const after = await core.query<Stats>('stats', {});
  t.like(after, { files: 10, bytes: bytes + 5000, duplicateGroups: 2, wastedBytes: 15_011 });
  t.is((await core.query<Group[]>('dupes', {}))[0]!.copies, 4);
});
