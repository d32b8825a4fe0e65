// The group writer's unit committed alone (a received batch): it commits the open group first,
// then itself, publishes both in order, and a failure takes back only its own writes.
import test from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { Core } from '../../src/core.js';
import type { Library } from '../../src/library/library.js';
import { tempDir } from '../helpers.js';

async function library(t: Parameters<typeof tempDir>[0]): Promise<{ core: Core; lib: Library }> {
  const core = await Core.open(tempDir(t), { services: false });
  t.teardown(() => core.close());
  return { core, lib: core.libraries.resolve() };
}

const verified = async (core: Core): Promise<boolean> => (await core.query<{ ok: boolean }>('log.verify', {})).ok;

const names = (seen: { type: string; body: unknown }[]): string[] =>
  seen.filter((e) => e.type === 'library.renamed').map((e) => (e.body as { name: string }).name);

test('a unit committed alone commits the open group first, then itself, and both are published in order', async (t) => {
  const { core, lib } = await library(t);
  const seen: { type: string; body: unknown }[] = [];
  lib.onEvent((ev) => seen.push(ev));
  lib.write(() => lib.append('library.renamed', { name: 'first' }));
  t.true(lib.db.inTransaction, 'the first unit waits in its group');
  const out = lib.commitAlone(() => {
    lib.append('library.renamed', { name: 'second' });
    return 42;
  });
  t.is(out, 42);
  t.false(lib.db.inTransaction, 'committed before it returned');
  t.deepEqual(names(seen), ['first', 'second']);
  // Another connection sees both: they are on disk, not in an open transaction.
  const other = new Database(lib.path, { readonly: true });
  t.teardown(() => other.close());
  t.is((other.prepare("SELECT value FROM library_meta WHERE key = 'name'").get() as { value: string }).value, 'second');
  t.true(await verified(core), 'the deferred signatures were written before the commit');
});

test('a unit committed alone that throws leaves nothing of itself and keeps the group committed before it', async (t) => {
  const { core, lib } = await library(t);
  const seen: { type: string; body: unknown }[] = [];
  lib.onEvent((ev) => seen.push(ev));
  lib.write(() => lib.append('library.renamed', { name: 'kept' }));
  const head = lib.log.headOf(lib.log.deviceId).seq;
  t.throws(
    () =>
      lib.commitAlone(() => {
        lib.append('library.renamed', { name: 'lost' });
        throw new Error('projection failed');
      }),
    { message: 'projection failed' },
  );
  t.false(lib.db.inTransaction);
  t.is(lib.log.headOf(lib.log.deviceId).seq, head, 'the head is the last committed event');
  t.is(lib.name, 'kept');
  t.deepEqual(names(seen), ['kept'], 'the lost event was never published');
  // The writer goes on: the next unit chains to the kept event.
  lib.commitAlone(() => lib.append('library.renamed', { name: 'after' }));
  t.is(lib.log.headOf(lib.log.deviceId).seq, head + 1);
  t.deepEqual(names(seen), ['kept', 'after']);
  t.true(await verified(core));
});

test('a unit committed alone inside another unit is part of it: it commits, or rolls back, with it', async (t) => {
  const { lib } = await library(t);
  const head = lib.log.headOf(lib.log.deviceId).seq;
  t.throws(() =>
    lib.write(() => {
      lib.commitAlone(() => lib.append('library.renamed', { name: 'inner' }));
      throw new Error('outer fails');
    }),
  );
  t.is(lib.log.headOf(lib.log.deviceId).seq, head, 'the inner unit went with the outer one');
  lib.write(() => lib.commitAlone(() => lib.append('library.renamed', { name: 'inner-ok' })));
  t.true(lib.db.inTransaction, 'still the open group of the outer unit');
  lib.flush();
  t.is(lib.name, 'inner-ok');
});

test('the writing connection keeps temporary storage on disk, so a big sort (an index build) can spill', async (t) => {
  const { lib } = await library(t);
  // In memory, SQLite's sorter never spills: the content-id index over 1.5M rows peaked at 197 MiB.
  t.is(lib.db.pragma('temp_store', { simple: true }), 0);
  t.is(lib.ro.pragma('temp_store', { simple: true }), 0);
});
