// Library names are unique per device: a joined library whose name is taken here, or a rename from
// a peer that collides, gets a local alias ("family (2)"); every command takes the alias, the name
// when unique, the id and an id prefix. And `pair join` leaves the joined library current, dropping
// the unused library of the first start.
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { freeAlias } from '../../src/library/names.js';
import { tempDir } from '../helpers.js';
import { device, joinLibrary, link, synced, until } from '../support/linked.js';

interface Row {
  id: string;
  name: string;
  sharedName: string;
  alias: string | null;
  current: boolean;
}

const list = (c: Core): Promise<Row[]> => c.query<Row[]>('library.list', {});
const named = async (c: Core): Promise<string[]> => (await list(c)).map((r) => r.name).sort();

test('a joined library whose name is taken gets an alias; alias, unique name, id and id prefix all work', async (t) => {
  const a = await device(t, false);
  const b = await device(t, false);
  await a.command('library.rename', { name: 'family' });
  await b.command('library.rename', { name: 'family' }); // B's own library, used: it stays
  const own = b.libraries.resolve();
  const la = a.libraries.resolve();
  const lb = await joinLibrary(a, b);
  link(t, la, lb);
  await synced(la, lb);
  await until('the alias', () => b.libraries.nameOf(lb.id) === 'family (2)', 15_000);
  t.deepEqual(await named(b), ['family', 'family (2)']);
  const row = (await list(b)).find((r) => r.id === lb.id)!;
  t.like(row, { name: 'family (2)', sharedName: 'family', alias: 'family (2)' });
  t.is((await list(a))[0]!.name, 'family', 'the alias is local: the other device knows nothing of it');

  // The current library is still B's own until pair join adopts the joined one.
  const adopted = await b.libraries.adoptJoined(lb.id);
  t.is(adopted.dropped, null, 'a library with a rename in it is not dropped');
  t.like(adopted.current, { id: lb.id, name: 'family (2)', sharedName: 'family' });
  t.is(b.libraries.currentId, lb.id);

  // Every way of naming it reaches the same library, through commands too.
  for (const ref of ['family (2)', lb.id, lb.id.slice(0, 6)]) t.is(b.libraries.resolve(ref).id, lb.id, ref);
  t.is(b.libraries.resolve('family').id, own.id, 'the name belongs to the library called so here');
  await b.command('library.use', { ref: 'family' });
  t.is(b.libraries.currentId, own.id);
  await b.command('library.use', { ref: 'family (2)' });
  t.is(b.libraries.currentId, lb.id);
  await b.command('tag.create', { name: 'via-alias' }, { library: 'family (2)' });
  await until('A has the tag', () => !!la.db.prepare("SELECT 1 FROM tags WHERE name = 'via-alias'").get(), 15_000);
  const info = await b.query<Row>('library.info', { ref: 'family (2)' });
  t.like(info, { id: lb.id, name: 'family (2)', sharedName: 'family' });
  const wrong = await t.throwsAsync(b.query('library.info', { ref: 'family (3)' }));
  t.is((wrong as { code?: string }).code, 'E_LIBRARY_NOT_FOUND');

  // Creating or renaming onto a name taken here (an alias too) is refused, naming the alias.
  const clash = await t.throwsAsync(b.command('library.create', { name: 'family (2)' }));
  t.is((clash as { code?: string }).code, 'E_LIBRARY_EXISTS');
  t.regex(clash!.message, /already called "family \(2\)" \(a local alias of the shared name "family"\)/);
  const renameClash = await t.throwsAsync(b.command('library.rename', { name: 'family (2)' }, { library: own.id }));
  t.is((renameClash as { code?: string }).code, 'E_LIBRARY_EXISTS');

  // The alias outlives a restart (a device setting in config.json, not an event).
  const dir = b.dataDir;
  const events = lb.log.count();
  await b.close();
  const again = await Core.open(dir, { services: false });
  t.teardown(() => again.close());
  t.is(again.libraries.nameOf(lb.id), 'family (2)');
  t.is(again.libraries.currentId, lb.id);
  t.is(again.libraries.resolve(lb.id).log.count(), events, 'no event was written for the alias');
  t.like(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), {
    aliases: { [lb.id]: { alias: 'family (2)', of: 'family' } },
  });
});

test('a rename from a peer that collides gets an alias; a later rename to a free name drops it; racing renames get distinct names', async (t) => {
  const [a, b, c] = [await device(t, false), await device(t, false), await device(t, false)];
  await b.command('library.rename', { name: 'photos' });
  await c.command('library.rename', { name: 'second' });
  const own = b.libraries.resolve();
  const la = a.libraries.resolve();
  const lc = c.libraries.resolve();
  const ba = await joinLibrary(a, b);
  const bc = await joinLibrary(c, b);
  let ab = link(t, la, ba);
  let cb = link(t, lc, bc);
  await synced(la, ba);
  await synced(lc, bc);
  t.deepEqual(await named(b), ['default', 'photos', 'second']);

  // A rename on A onto the name of B's own library: an alias on B, nothing on A.
  await a.command('library.rename', { name: 'photos' });
  await until('the renamed library gets an alias', () => b.libraries.nameOf(ba.id) === 'photos (2)', 15_000);
  t.is(a.libraries.nameOf(la.id), 'photos');
  t.is(b.libraries.resolve('photos').id, own.id);

  // Renamed away to a free name: the alias goes; back onto the taken one: an alias again.
  await a.command('library.rename', { name: 'holidays' });
  await until('the alias dropped', () => b.libraries.nameOf(ba.id) === 'holidays', 15_000);
  t.is((await list(b)).find((r) => r.id === ba.id)!.alias, null);
  t.is(b.libraries.resolve('holidays').id, ba.id);

  // Racing: A and C rename their libraries to "photos" while apart from B; both arrive together.
  ab.close();
  cb.close();
  await a.command('library.rename', { name: 'photos' });
  await c.command('library.rename', { name: 'photos' });
  ab = link(t, la, ba);
  cb = link(t, lc, bc);
  await synced(la, ba);
  await synced(lc, bc);
  await until('three names', () => new Set(b.libraries.list().map((l) => b.libraries.nameOf(l.id))).size === 3, 15_000);
  t.deepEqual(await named(b), ['photos', 'photos (2)', 'photos (3)']);
  t.is(b.libraries.nameOf(own.id), 'photos', 'the library that had the name keeps it');
  t.deepEqual(new Set([b.libraries.nameOf(ba.id), b.libraries.nameOf(bc.id)]), new Set(['photos (2)', 'photos (3)']));
  for (const l of [ba, bc]) t.is(b.libraries.resolve(b.libraries.nameOf(l.id)).id, l.id);

  // B's own library leaves the name: the others keep their aliases (names here do not shift),
  // and the shared name "photos", held by two libraries, is ambiguous: the error names both.
  await b.command('library.rename', { name: 'mine' }, { library: own.id });
  t.deepEqual(await named(b), ['mine', 'photos (2)', 'photos (3)']);
  const amb = await t.throwsAsync(b.command('library.use', { ref: 'photos' }));
  t.is((amb as { code?: string }).code, 'E_AMBIGUOUS_LIBRARY');
  t.regex(amb!.message, /2 libraries share the name "photos"; use one of "photos \(\d\)" .*"photos \(\d\)"/);
  // A renames again: its library's alias is remade for the new shared name.
  await a.command('library.rename', { name: 'mine' });
  await until('a fresh alias', () => b.libraries.nameOf(ba.id) === 'mine (2)', 15_000);
});

test('aliases of odd names: one that looks like an alias, 200 characters, control characters', async (t) => {
  t.is(freeAlias('family', new Set()), 'family (2)');
  t.is(freeAlias('family (2)', new Set()), 'family (3)', 'counts on from a name that already has a number');
  t.is(freeAlias('family', new Set(['family (2)', 'family (3)'])), 'family (4)');
  const long = 'é'.repeat(150) + '😀'.repeat(25); // 200 UTF-16 units, a surrogate pair at the cut
  const alias = freeAlias(long, new Set());
  t.true(alias.length <= 200, `${alias.length}`);
  t.true(alias.endsWith('😀 (2)'), 'cut between characters, not inside one');
  t.notThrows(() => encodeURIComponent(alias), 'no lone surrogate');

  const a = await device(t, false);
  const b = await device(t, false);
  await a.command('library.rename', { name: long });
  await b.command('library.rename', { name: long });
  const la = a.libraries.resolve();
  const lb = await joinLibrary(a, b);
  link(t, la, lb);
  await synced(la, lb);
  await until('alias of the long name', () => b.libraries.nameOf(lb.id) !== long, 15_000);
  t.is(b.libraries.nameOf(lb.id), alias);
  await b.command('library.use', { ref: alias });
  t.is(b.libraries.currentId, lb.id, 'the cut alias is a name commands take');
  // Renaming its own library to the alias's text is refused; to 200 new characters is fine.
  const clash = await t.throwsAsync(b.command('library.rename', { name: alias }, { library: long }));
  t.is((clash as { code?: string }).code, 'E_LIBRARY_EXISTS');

  // Names with control characters never become library names (nor aliases of them).
  const ctl = await t.throwsAsync(b.command('library.create', { name: 'evil\u001b[2Jname' }));
  t.is((ctl as { code?: string }).code, 'E_BAD_INPUT');
  const ctlRename = await t.throwsAsync(b.command('library.rename', { name: 'a\nb' }));
  t.is((ctlRename as { code?: string }).code, 'E_BAD_INPUT');
});

test('a library shared under a name that is an alias here gets the next number', async (t) => {
  const [a, b, c] = [await device(t, false), await device(t, false), await device(t, false)];
  await a.command('library.rename', { name: 'trip' });
  await b.command('library.rename', { name: 'trip' });
  await c.command('library.rename', { name: 'trip (2)' });
  const la = a.libraries.resolve();
  const lc = c.libraries.resolve();
  const ba = await joinLibrary(a, b);
  const bc = await joinLibrary(c, b);
  link(t, la, ba);
  await synced(la, ba);
  await until("A's library aliased", () => b.libraries.nameOf(ba.id) === 'trip (2)', 15_000);
  link(t, lc, bc);
  await synced(lc, bc);
  await until("C's library aliased", () => b.libraries.nameOf(bc.id) === 'trip (3)', 15_000);
  t.deepEqual(await named(b), ['trip', 'trip (2)', 'trip (3)']);
  t.is(b.libraries.resolve('trip (2)').id, ba.id, 'the name here wins over a shared name');
  t.like(
    (await list(b)).find((r) => r.id === bc.id),
    { name: 'trip (3)', sharedName: 'trip (2)' },
  );
  // Its own shared name, renamed there to one free here: the alias goes.
  await c.command('library.rename', { name: 'road trip' });
  await until('alias dropped', () => b.libraries.nameOf(bc.id) === 'road trip', 15_000);
});

test('adopting a joined library drops the untouched first-start library, and only that one', async (t) => {
  // Untouched: its creation, its documents and a device rename (as `sd start --device-name` makes).
  const a = await device(t, false);
  const b = await device(t, false);
  await b.command('device.rename', { name: 'laptop2' });
  const first = b.libraries.resolve();
  const la = a.libraries.resolve();
  const lb = await joinLibrary(a, b);
  link(t, la, lb);
  await synced(la, lb);
  t.is(b.libraries.nameOf(lb.id), 'default (2)', 'while both exist, the joined one has an alias');
  const r = await b.libraries.adoptJoined(lb.id);
  t.like(r.dropped, { id: first.id, name: 'default' });
  t.like(r.current, { id: lb.id, name: 'default', alias: null });
  t.false(existsSync(first.path), 'its database is gone');
  // dropped without saving its documents first: nothing of it is written back afterwards
  t.false(existsSync(first.path + '-wal') || existsSync(first.path + '-shm'), 'its log files are gone');
  await new Promise((r) => setTimeout(r, 300)); // past the documents' save throttle (100 ms)
  t.false(existsSync(first.path) || existsSync(first.path + '-wal'), 'and stay gone');
  t.deepEqual(
    (await list(b)).map((x) => [x.id, x.name, x.current]),
    [[lb.id, 'default', true]],
  );

  // Touched in any way, or not the only other library: kept, and the joined one is current.
  const cases: [string, (c: Core) => Promise<unknown>][] = [
    ['a tag', (c) => c.command('tag.create', { name: 'x' })],
    ['a location', (c) => c.command('location.add', { path: tempDir(t), watch: false })],
    ['a rename', (c) => c.command('library.rename', { name: 'mine' })],
    ['a second library', (c) => c.command('library.create', { name: 'other' })],
    [
      'made with library create',
      async (c) => {
        const id = c.libraries.currentId;
        await c.command('library.create', { name: 'made' });
        await c.command('library.delete', { ref: id }, { yes: true });
      },
    ],
  ];
  for (const [what, touch] of cases) {
    const c = await device(t);
    await touch(c);
    const before = (await list(c)).map((x) => x.id).sort();
    const lc = await joinLibrary(a, c);
    const res = await c.libraries.adoptJoined(lc.id);
    t.is(res.dropped, null, what);
    t.is(c.libraries.currentId, lc.id, what);
    t.deepEqual((await list(c)).map((x) => x.id).sort(), [...before, lc.id].sort(), what);
  }
});

test('adopting a joined library is on disk at once, also across a restart; a config left mid-adoption settles at start', async (t) => {
  const a = await device(t, false);
  const dir = tempDir(t);
  const b = await Core.open(dir, { services: false });
  let open = true;
  t.teardown(() => (open ? b.close() : undefined));
  const first = b.libraries.resolve();
  const la = a.libraries.resolve();
  const lb = await joinLibrary(a, b);
  link(t, la, lb);
  await synced(la, lb);
  const config = (): { current?: string; aliases?: Record<string, { alias: string }> } =>
    JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as never;
  // The joined library's alias, settled while its history arrived, reaches the file after that batch.
  await until('the alias on disk', () => config().aliases?.[lb.id]?.alias === 'default (2)', 15_000);
  await b.libraries.adoptJoined(lb.id);
  // No wait: the command's answer means the config says so already.
  t.is(config().current, lb.id, 'the joined library is current on disk');
  t.deepEqual(config().aliases ?? {}, {}, 'the first library went, so the joined one needs no alias');
  await b.close();
  open = false;
  const again = await device(t, false, dir);
  t.deepEqual(
    (await list(again)).map((x) => [x.id, x.name, x.current]),
    [[lb.id, 'default', true]],
  );
  await again.close();

  // A crash between dropping the first library and writing the config: the config still names the
  // dropped library as current and keeps the alias the joined one had meanwhile. The next start makes
  // the library that is there current; the alias stays (as any alias does) and its shared name works too.
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ current: first.id, aliases: { [lb.id]: { alias: 'default (2)', of: 'default' } } }),
  );
  const third = await device(t, false, dir);
  t.deepEqual(
    (await list(third)).map((x) => [x.id, x.current]),
    [[lb.id, true]],
  );
  t.is(third.libraries.resolve('default').id, lb.id);
  t.is(third.libraries.resolve('default (2)').id, lb.id);
});

test('a data dir from before aliases: at start the current library keeps the name, the other gets an alias', async (t) => {
  const dir = tempDir(t);
  const b = await Core.open(dir, { services: false });
  const first = b.libraries.resolve();
  const second = await b.libraries.create('twin');
  // Two libraries of one name, as an older vdfs could leave them (no aliases in config.json).
  first.write(() => first.append('library.renamed', { name: 'twin' }));
  first.flush();
  await b.close();
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ current: second.id }));
  for (let i = 0; i < 2; i++) {
    const again = await Core.open(dir, { services: false });
    t.is(again.libraries.nameOf(second.id), 'twin', `start ${i}`);
    t.is(again.libraries.nameOf(first.id), 'twin (2)', `start ${i}`);
    t.is(again.libraries.resolve('twin').id, second.id);
    t.is(again.libraries.resolve('twin (2)').id, first.id);
    await again.close();
  }
  // A hand-edited config.json: one alias given twice, one of a library that is gone, one not an alias.
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      current: first.id,
      aliases: {
        [first.id]: { alias: 'mine', of: 'twin' },
        [second.id]: { alias: 'mine', of: 'twin' },
        'no-such-library': { alias: 'ghost', of: 'x' },
        junk: 5,
      },
    }),
  );
  const edited = await Core.open(dir, { services: false });
  t.teardown(() => edited.close());
  const shown = edited.libraries.list().map((l) => edited.libraries.nameOf(l.id));
  t.is(new Set(shown).size, 2, JSON.stringify(shown));
  t.true(shown.includes('mine'));
  t.deepEqual(
    Object.keys(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).aliases).sort(),
    [first.id, second.id].sort().filter((id) => edited.libraries.naming(id).alias !== null),
  );
});
