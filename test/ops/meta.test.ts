// Collections, notes, favourites, tag.delete and tag.remove through the real Core: what a user
// sees after each command (list, show, info, search), the audit in `sd log`, and replay. Odd and
// hostile input next to the happy path.
import test from 'ava';
import { join } from 'node:path';
import type { Core } from '../../src/core.js';
import { setup } from '../entry/helpers.js';

const FILES = {
  'trip/beach.jpg': 'sand and sea',
  'trip/beach copy.jpg': 'sand and sea', // the same content
  'trip/hotel.jpg': 'lobby',
  'trip/day2/boat.jpg': 'waves',
  'notes.txt': 'todo',
};

interface Show {
  name: string;
  items: { contentId: string; name: string | null; paths: { path: string }[] }[];
}
interface Info {
  tags: string[];
  note: string | null;
  favourite: boolean;
}
interface Hit {
  name: string;
}

const code = async (p: Promise<unknown>): Promise<string | undefined> => {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};
const names = (hits: Hit[]): string[] => hits.map((h) => h.name).sort();
const log = async (core: Core): Promise<string[]> =>
  (await core.query<{ summary: string }[]>('log.list', { limit: 50 })).map((e) => e.summary);

test('collections: create, add (folders with recursive), show in order with paths, remove, rename, delete', async (t) => {
  const { core, root } = await setup(t, FILES);
  const p = (rel: string): string => join(root, rel);
  const made = await core.command<{ id: string }>('collection.create', { name: 'Best of 2026' });
  t.true(made.verify!.ok);
  t.is(await code(core.command('collection.create', { name: 'Best of 2026' })), 'E_COLLECTION_EXISTS');

  // A folder needs --recursive; two copies of one content are one item.
  t.is(await code(core.command('collection.add', { collection: 'Best of 2026', paths: [p('trip')] })), 'E_IS_A_FOLDER');
  await core.command('collection.add', { collection: 'Best of 2026', paths: [p('trip/hotel.jpg')] });
  const add = await core.command<{ changed: number }>('collection.add', {
    collection: 'Best of 2026',
    paths: [p('trip')],
    recursive: true,
  });
  t.is(add.result!.changed, 2, 'beach (one content, two files) and boat; the hotel is in already');
  let show = await core.query<Show>('collection.show', { collection: 'Best of 2026' });
  t.is(show.items[0]!.name, 'hotel.jpg', 'in the order added');
  t.is(show.items.length, 3);
  const beach = show.items.find((i) => i.paths.length === 2)!;
  t.deepEqual(beach.paths.map((x) => x.path).sort(), [p('trip/beach copy.jpg'), p('trip/beach.jpg')]);
  t.deepEqual(await core.query('collection.list', {}), [
    { id: made.result!.id, ids: [made.result!.id], name: 'Best of 2026', items: 3 },
  ]);

  // An item follows its file through a rename (items are content, not paths).
  await core.command('entry.rename', { path: p('trip/hotel.jpg'), name: 'lobby.jpg' });
  show = await core.query<Show>('collection.show', { collection: made.result!.id.slice(0, 8) });
  t.deepEqual(
    show.items[0]!.paths.map((x) => x.path),
    [p('trip/lobby.jpg')],
  );

  const removed = await core.command<{ changed: number }>('collection.remove', {
    collection: 'Best of 2026',
    paths: [p('trip/beach copy.jpg'), p('notes.txt')],
  });
  t.is(removed.result!.changed, 1, 'the beach content; notes.txt was never in it');
  t.is((await core.query<Show>('collection.show', { collection: 'Best of 2026' })).items.length, 2);

  await core.command('collection.rename', { collection: 'Best of 2026', name: 'Holidays' });
  t.is(await code(core.query('collection.show', { collection: 'Best of 2026' })), 'E_COLLECTION_NOT_FOUND');
  const unknown = await t.throwsAsync(core.query('collection.show', { collection: 'Holidyas' }));
  t.regex(unknown!.message, /no collection "Holidyas" in this library\. Did you mean "Holidays"\?/);

  // Delete asks first, and leaves the files.
  t.is(await code(core.command('collection.delete', { collection: 'Holidays' })), 'E_CONFIRMATION_REQUIRED');
  const del = await core.command('collection.delete', { collection: 'Holidays' }, { yes: true });
  t.true(del.verify!.ok);
  t.deepEqual(await core.query('collection.list', {}), []);
  t.is(names(await core.query<Hit[]>('search', { query: 'boat' })).length, 1, 'files untouched');
  const summaries = await log(core);
  for (const s of [
    'created collection "Best of 2026"',
    'added 2 content item(s) to collection "Best of 2026"',
    'removed 1 content item(s) from collection "Best of 2026"',
    'renamed collection "Best of 2026" → "Holidays"',
    'deleted collection "Holidays"',
  ])
    t.true(summaries.includes(s), `${s} in ${JSON.stringify(summaries)}`);
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});

test('collection and tag names: control characters refused, 200 characters accepted, 201 refused', async (t) => {
  const { core } = await setup(t, FILES);
  for (const bad of ['evil\u001b[2J', 'two\nlines', 'tab\there', '   '])
    for (const cmd of ['collection.create', 'tag.create'])
      t.is(await code(core.command(cmd, { name: bad })), 'E_BAD_INPUT', `${cmd} ${JSON.stringify(bad)}`);
  const long = 'x'.repeat(199) + '界';
  t.true((await core.command('collection.create', { name: long })).verify!.ok);
  t.true((await core.command('tag.create', { name: long })).verify!.ok);
  t.is(await code(core.command('tag.create', { name: long + 'y' })), 'E_BAD_INPUT');
  t.is(await code(core.command('collection.rename', { collection: long, name: 'a\u0007' })), 'E_BAD_INPUT');
  t.is((await core.query<Show>('collection.show', { collection: long })).name, long);
  t.deepEqual(
    (await core.query<{ name: string }[]>('tag.list', {})).map((r) => r.name),
    [long],
  );
});

test('notes: set, replace, shown on every copy of the content, removed by an empty text; size limit', async (t) => {
  const { core, root } = await setup(t, FILES);
  const beach = join(root, 'trip/beach.jpg');
  const copy = join(root, 'trip/beach copy.jpg');
  const info = (path: string): Promise<Info> => core.query<Info>('entry.info', { path });
  t.is((await info(beach)).note, null);
  await core.command('note.set', { path: beach, text: 'first day' });
  await core.command('note.set', { path: copy, text: 'sunset\nat 9pm \u001b[31m(red)' });
  t.is((await info(beach)).note, 'sunset\nat 9pm \u001b[31m(red)', 'one content, one note; kept exactly');
  t.true((await log(core)).includes('note on beach.jpg') || (await log(core)).includes('note on beach copy.jpg'));
  const big = 'n'.repeat(100_000);
  t.true((await core.command('note.set', { path: beach, text: big })).verify!.ok);
  t.is((await info(copy)).note!.length, 100_000);
  t.is(await code(core.command('note.set', { path: beach, text: big + 'n' })), 'E_BAD_INPUT');
  await core.command('note.set', { path: beach, text: '' });
  t.is((await info(copy)).note, null);
  t.is(await code(core.command('note.set', { path: join(root, 'trip'), text: 'a folder' })), 'E_IS_A_FOLDER');
  t.is(await code(core.command('note.set', { path: join(root, 'nope.jpg'), text: 'x' })), 'E_NOT_INDEXED');
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});

test('favourites: add, list (search --fav), remove; twice is harmless; unknown paths refused', async (t) => {
  const { core, root } = await setup(t, FILES);
  const p = (rel: string): string => join(root, rel);
  await core.command('fav.add', { paths: [p('trip/beach.jpg'), p('trip/day2/boat.jpg')] });
  t.true((await core.command('fav.add', { paths: [p('trip/beach.jpg')] })).verify!.ok);
  t.deepEqual(names(await core.query<Hit[]>('search', { fav: true })), ['beach copy.jpg', 'beach.jpg', 'boat.jpg']);
  t.deepEqual(names(await core.query<Hit[]>('search', { query: 'boat', fav: true })), ['boat.jpg']);
  t.true((await core.query<Info>('entry.info', { path: p('trip/beach copy.jpg') })).favourite);
  await core.command('fav.remove', { paths: [p('trip/beach copy.jpg')] });
  t.deepEqual(names(await core.query<Hit[]>('search', { fav: true })), ['boat.jpg']);
  t.false((await core.query<Info>('entry.info', { path: p('trip/beach.jpg') })).favourite);
  t.is(await code(core.command('fav.add', { paths: [p('ghost.jpg')] })), 'E_NOT_INDEXED');
  t.is(await code(core.command('fav.add', { paths: [] })), 'E_BAD_INPUT');
  const summaries = await log(core);
  t.true(summaries.includes('favourited 2 content item(s)'));
  t.true(summaries.includes('unfavourited 1 content item(s)'));
});

test('tag.remove and tag.delete: what carries the tag afterwards, confirmation, and the audit', async (t) => {
  const { core, root } = await setup(t, FILES);
  const p = (rel: string): string => join(root, rel);
  await core.command('tag.create', { name: 'sea', color: '#3366FF' });
  await core.command('tag.create', { name: 'unused' });
  await core.command('tag.apply', { tag: 'sea', paths: [p('trip')], recursive: true });
  t.deepEqual(names(await core.query<Hit[]>('search', { tag: 'sea' })), [
    'beach copy.jpg',
    'beach.jpg',
    'boat.jpg',
    'hotel.jpg',
  ]);

  // Removing from one copy removes it from the content: the other copy loses it too.
  const rm = await core.command<{ changed: number }>('tag.remove', { tag: 'sea', paths: [p('trip/beach copy.jpg')] });
  t.is(rm.result!.changed, 1);
  t.deepEqual((await core.query<Info>('entry.info', { path: p('trip/beach.jpg') })).tags, []);
  const again = await core.command<{ changed: number }>('tag.remove', { tag: 'sea', paths: [p('trip/beach.jpg')] });
  t.is(again.result!.changed, 0, 'removing what is not there changes nothing');
  t.true(again.verify!.ok);
  t.is(await code(core.command('tag.remove', { tag: 'sky', paths: [p('notes.txt')] })), 'E_TAG_NOT_FOUND');
  await core.command('tag.remove', { tag: 'sea', paths: [p('trip/day2')], recursive: true });
  t.deepEqual(names(await core.query<Hit[]>('search', { tag: 'sea' })), ['hotel.jpg']);
  t.like((await core.query<{ name: string; items: number; files: number }[]>('tag.list', {}))[0], {
    name: 'sea',
    items: 1,
    files: 1,
  });

  // Delete: a tag in use asks first; afterwards no file and no query knows it.
  t.is(await code(core.command('tag.delete', { tag: 'sea' })), 'E_CONFIRMATION_REQUIRED');
  t.true((await core.command('tag.delete', { tag: 'sea' }, { yes: true })).verify!.ok);
  t.true((await core.command('tag.delete', { tag: 'unused' })).verify!.ok, 'an unused tag goes without asking');
  t.deepEqual(await core.query('tag.list', {}), []);
  t.deepEqual((await core.query<Info>('entry.info', { path: p('trip/hotel.jpg') })).tags, []);
  t.is(await code(core.query('search', { tag: 'sea' })), 'E_TAG_NOT_FOUND');
  t.is(await code(core.command('tag.delete', { tag: 'sea' }, { yes: true })), 'E_TAG_NOT_FOUND');
  const summaries = await log(core);
  for (const s of [
    'tagged 3 content item(s) with "sea"',
    'untagged 1 content item(s) from "sea"',
    'deleted tag "sea"',
    'deleted tag "unused"',
  ])
    t.true(summaries.includes(s), `${s} in ${JSON.stringify(summaries)}`);
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});
