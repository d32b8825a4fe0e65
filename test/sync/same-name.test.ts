// Two devices that create a tag (or a collection) of the same name while apart: after they sync,
// the name is one tag to every name-based command and query on both, the same on both; ids still
// address one object; renames that make names equal merge them; racing renames converge.
import test from 'ava';
import { join } from 'node:path';
import type { Core } from '../../src/core.js';
import type { Library } from '../../src/library/library.js';
import { checksums } from '../../src/projections/index.js';
import { putTag } from '../../src/shared/edits.js';
import { recordShared } from '../../src/ops/tag/index.js';
import { pair, synced } from '../support/linked.js';

interface TagRow {
  id: string;
  ids: string[];
  name: string;
  color: string | null;
  items: number;
  files: number;
}
interface Hit {
  name: string;
}
interface Show {
  ids: string[];
  items: { contentId: string; name: string | null }[];
}

const names = (hits: Hit[]): string[] => hits.map((h) => h.name).sort();
const tags = (c: Core): Promise<TagRow[]> => c.query<TagRow[]>('tag.list', {});
const assigned = (l: Library, cid: string): string[] =>
  (l.db.prepare('SELECT tag FROM tag_assign WHERE cid = ? ORDER BY tag').all(cid) as { tag: string }[]).map(
    (r) => r.tag,
  );
const cidOf = (l: Library, name: string): string =>
  (l.db.prepare('SELECT cid FROM entries WHERE name = ?').get(name) as { cid: string }).cid;

test('same-name tags made apart are one tag on both devices: list, search, info, apply, remove, rename, delete', async (t) => {
  const s = await pair(t);
  const { a, b, la, lb } = s;
  s.apart();
  const redA = (await a.command<{ id: string }>('tag.create', { name: 'red', color: '#ff0000' })).result!.id;
  await a.command('tag.apply', { tag: 'red', paths: [join(s.ra, 'a1.jpg'), join(s.ra, 'shared.jpg')] });
  await b.command('tag.create', { name: 'red' });
  await b.command('tag.apply', { tag: 'red', paths: [join(s.rb, 'b1.jpg'), join(s.rb, 'same.jpg')] });
  await s.connect();

  // One row per name, the same on both devices: the union of the files, the smallest id first.
  const [ta, tb] = [await tags(a), await tags(b)];
  t.deepEqual(ta, tb);
  t.is(ta.length, 1);
  const ids = [...ta[0]!.ids];
  t.deepEqual(ids, [...ids].sort());
  t.like(ta[0], { name: 'red', id: ids[0], color: '#ff0000', items: 3, files: 4 });
  for (const c of [a, b]) {
    t.deepEqual(names(await c.query<Hit[]>('search', { tag: 'red' })), ['a1.jpg', 'b1.jpg', 'same.jpg', 'shared.jpg']);
    const info = await c.query<{ tags: string[] }>('entry.info', {
      path: join(s.ra, 'shared.jpg'),
      device: a.device.id,
    });
    t.deepEqual(info.tags, ['red'], 'a file carrying both reds shows red once');
  }

  // Apply: a file that carries either red already carries "red"; new files get the smallest id.
  const apply = await b.command<{ changed: number }>('tag.apply', {
    tag: 'red',
    paths: [join(s.ra, 'a1.jpg'), join(s.ra, 'a2.jpg')],
    device: a.device.id,
  });
  t.is(apply.result!.changed, 1);
  await synced(lb, la);
  t.deepEqual(assigned(la, cidOf(la, 'a2.jpg')), [ids[0]]);
  t.deepEqual(assigned(lb, cidOf(lb, 'a2.jpg')), [ids[0]]);

  // Remove: every red goes from the files named, whichever device's red it was.
  await a.command('tag.remove', {
    tag: 'red',
    paths: [join(s.rb, 'b1.jpg'), join(s.rb, 'same.jpg')],
    device: b.device.id,
  });
  await synced(la, lb);
  for (const c of [a, b]) t.deepEqual(names(await c.query<Hit[]>('search', { tag: 'red' })), ['a1.jpg', 'a2.jpg']);

  // An id addresses one object; a prefix of it too.
  const other = ids[1]!;
  await a.command('tag.apply', { tag: other.slice(0, 8), paths: [join(s.ra, 'shared.jpg')] });
  await synced(la, lb);
  t.deepEqual(assigned(lb, cidOf(lb, 'shared.jpg')), [other]);
  // Only that tag's files: a1.jpg still carries A's red (a red was there already when applied).
  const alsoA1 = other === redA ? ['a1.jpg'] : [];
  t.deepEqual(names(await b.query<Hit[]>('search', { tag: other })), [...alsoA1, 'same.jpg', 'shared.jpg']);

  // Rename acts on all of them; the log names the rename once.
  await b.command('tag.rename', { tag: 'red', name: 'crimson' });
  await synced(lb, la);
  t.deepEqual(
    (await tags(a)).map((r) => [r.name, r.ids.length]),
    [['crimson', 2]],
  );
  t.is(
    (await a.query<unknown>('search', { tag: 'red' }).catch((e: { code: string }) => e.code)) as string,
    'E_TAG_NOT_FOUND',
  );
  const summaries = (await a.query<{ summary: string }[]>('log.list', { limit: 20 })).map((e) => e.summary);
  t.true(summaries.includes('renamed tag "red" → "crimson"'), JSON.stringify(summaries));

  // Delete: every crimson, from every file, on both devices.
  await a.command('tag.delete', { tag: 'crimson' }, { yes: true });
  await synced(la, lb);
  for (const c of [a, b]) {
    t.deepEqual(await tags(c), []);
    t.deepEqual(names(await c.query<Hit[]>('search', { query: 'jpg' })).length, 6, 'the files stay');
  }
  t.is((la.db.prepare('SELECT COUNT(*) AS n FROM tag_assign').get() as { n: number }).n, 0);
  t.is(checksums(la.db).total, checksums(lb.db).total);
  t.true((await b.query<{ equal: boolean }>('replay.check', {})).equal);
});

test('same-name collections made apart are one collection: items the union in one order, add, remove, delete', async (t) => {
  const s = await pair(t);
  const { a, b, la, lb } = s;
  s.apart();
  await a.command('collection.create', { name: 'trip' });
  await a.command('collection.add', { collection: 'trip', paths: [join(s.ra, 'a1.jpg'), join(s.ra, 'shared.jpg')] });
  await b.command('collection.create', { name: 'trip' });
  await b.command('collection.add', { collection: 'trip', paths: [join(s.rb, 'b1.jpg'), join(s.rb, 'same.jpg')] });
  await s.connect();

  const [ca, cb] = [
    await a.query<Show>('collection.show', { collection: 'trip' }),
    await b.query<Show>('collection.show', { collection: 'trip' }),
  ];
  t.deepEqual(ca, cb, 'the same items in the same order on both devices');
  t.is(ca.ids.length, 2);
  t.deepEqual(
    ca.items.map((i) => i.contentId).sort(),
    [cidOf(la, 'a1.jpg'), cidOf(la, 'b1.jpg'), cidOf(la, 'same.jpg')].sort(),
  );
  t.deepEqual(await a.query('collection.list', {}), await b.query('collection.list', {}));
  t.like((await a.query<{ items: number }[]>('collection.list', {}))[0], { name: 'trip', items: 3 });

  // Adding what either holds changes nothing; a new item goes to the first, at the end.
  const add = await b.command<{ changed: number }>('collection.add', {
    collection: 'trip',
    paths: [join(s.rb, 'same.jpg'), join(s.rb, 'b2.jpg')],
  });
  t.is(add.result!.changed, 1);
  await synced(lb, la);
  const after = await a.query<Show>('collection.show', { collection: 'trip' });
  t.is(after.items.at(-1)!.contentId, cidOf(la, 'b2.jpg'));
  t.deepEqual(
    (
      la.db.prepare('SELECT coll FROM collection_items WHERE cid = ?').all(cidOf(la, 'b2.jpg')) as { coll: string }[]
    ).map((r) => r.coll),
    [ca.ids[0]],
  );

  // The content both devices added sits in both collections: remove takes it out of both.
  await a.command('collection.remove', { collection: 'trip', paths: [join(s.ra, 'shared.jpg')] });
  await synced(la, lb);
  t.is((await b.query<Show>('collection.show', { collection: 'trip' })).items.length, 3);
  t.is(
    (
      la.db.prepare('SELECT COUNT(*) AS n FROM collection_items WHERE cid = ?').get(cidOf(la, 'same.jpg')) as {
        n: number;
      }
    ).n,
    0,
  );

  await b.command('collection.delete', { collection: 'trip' }, { yes: true });
  await synced(lb, la);
  for (const c of [a, b]) t.deepEqual(await c.query('collection.list', {}), []);
  t.is(checksums(la.db).total, checksums(lb.db).total);
});

test('renames racing: onto a name the other device created, two tags onto one name, one tag two ways', async (t) => {
  const s = await pair(t);
  const { a, b, la, lb } = s;
  for (const n of ['blue', 'x', 'y', 'shared']) await a.command('tag.create', { name: n });
  await a.command('collection.create', { name: 'summer' });
  await synced(la, lb);
  s.apart();
  await a.command('tag.rename', { tag: 'blue', name: 'green' });
  await b.command('tag.create', { name: 'green' });
  await a.command('tag.rename', { tag: 'x', name: 'z' });
  await b.command('tag.rename', { tag: 'y', name: 'z' });
  await a.command('tag.rename', { tag: 'shared', name: 'by-a' });
  await b.command('tag.rename', { tag: 'shared', name: 'by-b' });
  await a.command('collection.rename', { collection: 'summer', name: 'summer 2026' });
  await b.command('collection.create', { name: 'summer 2026' });
  await s.connect();

  const [ta, tb] = [await tags(a), await tags(b)];
  t.deepEqual(ta, tb);
  const by = Object.fromEntries(ta.map((r) => [r.name, r.ids.length]));
  t.is(by.green, 2, 'a rename onto a name created apart merges');
  t.is(by.z, 2, 'two renames onto one name merge');
  t.true((by['by-a'] ?? 0) + (by['by-b'] ?? 0) === 1, 'one tag renamed two ways ends with one name, the same on both');
  t.deepEqual(await a.query('collection.list', {}), await b.query('collection.list', {}));
  t.like((await a.query<{ ids: string[] }[]>('collection.list', {}))[0], { name: 'summer 2026' });
  t.is((await a.query<{ ids: string[] }[]>('collection.list', {}))[0]!.ids.length, 2);

  // A rename of our own onto an existing name merges too, after a confirmation.
  const err = await t.throwsAsync(a.command('tag.rename', { tag: 'green', name: 'z' }));
  t.is((err as { code?: string }).code, 'E_CONFIRMATION_REQUIRED');
  t.regex(err!.message, /Merge tag "green" into "z"\?/);
  await a.command('tag.rename', { tag: 'green', name: 'z' }, { yes: true });
  await synced(la, lb);
  t.deepEqual((await tags(b)).find((r) => r.name === 'z')!.ids.length, 4);
  // And an id splits one off again.
  const one = (await tags(b)).find((r) => r.name === 'z')!.ids[3]!;
  await b.command('tag.rename', { tag: one, name: 'split' });
  await synced(lb, la);
  t.deepEqual(
    (await tags(a)).filter((r) => ['z', 'split'].includes(r.name)).map((r) => [r.name, r.ids]),
    [
      ['split', [one]],
      ['z', (await tags(a)).find((r) => r.name === 'z')!.ids],
    ],
  );
  t.is(checksums(la.db).total, checksums(lb.db).total);
});

test("a peer's odd tag names (control characters, 1,000 characters) are listed, merged by exact name, and addressable", async (t) => {
  const s = await pair(t);
  const { a, b, la, lb } = s;
  // A peer that skips the name checks: its changes ride signed events like any other.
  await lb.ensureShared(b.device.id);
  const evil = 'red\u001b[31m\u202e';
  const long = 'L'.repeat(1000);
  for (const [id, name] of [
    ['10000000-0000-4000-8000-000000000001', evil],
    ['10000000-0000-4000-8000-000000000002', evil],
    ['30000000-0000-4000-8000-000000000003', long],
  ] as const)
    recordShared(lb, 'tag.create', { tag: id, name: name.slice(0, 64) }, putTag(lb.shared, id, { name }));
  await synced(lb, la);
  const rows = await tags(a);
  t.deepEqual(
    rows.map((r) => [r.name, r.ids.length]),
    [
      [long, 1],
      [evil, 2],
    ],
  );
  await a.command('tag.apply', { tag: evil, paths: [join(s.ra, 'a1.jpg')] });
  t.deepEqual(assigned(la, cidOf(la, 'a1.jpg')), ['10000000-0000-4000-8000-000000000001']);
  const amb = await t.throwsAsync(a.command('tag.delete', { tag: '1000' }));
  t.is((amb as { code?: string }).code, 'E_AMBIGUOUS_TAG', 'a prefix of two ids names neither');
  await a.command('tag.delete', { tag: '3000' });
  await a.command('tag.delete', { tag: evil }, { yes: true });
  await synced(la, lb);
  t.deepEqual(await tags(b), []);
});
