// The entries projection on removals and moves: a folder goes with everything below it, and
// nothing else, whatever names share its prefix ("d1" vs "d10", "d1 x", "d1.txt").
import test from 'ava';
import { SEP, type EntryTuple } from '../../src/projections/entries.js';
import { newLocationId } from '../../src/projections/rules.js';
import { openCore } from '../helpers.js';

const k = (p: string): string => p.replaceAll('/', SEP);

test('removing or moving a folder takes its subtree and leaves names that only share its prefix', async (t) => {
  const core = await openCore(t);
  const lib = core.libraries.resolve();
  const loc = newLocationId(core.device.id);
  const keys = (): string[] =>
    (lib.db.prepare('SELECT key FROM entries WHERE loc = ? ORDER BY key').all(loc) as { key: string }[]).map((r) =>
      r.key.replaceAll(SEP, '/'),
    );
  const dir = (p: string): EntryTuple => [k(p), 1, 0, 1, 1, 'folder'];
  const file = (p: string): EntryTuple => [k(p), 0, 5, 1, 2, 'text'];
  lib.write(() => {
    lib.append('location.added', { id: loc, path: '/nowhere', name: 'l', watch: false, rules: {} });
    lib.append('entries.upserted', {
      loc,
      e: [
        dir('d1'),
        file('d1/a'),
        dir('d1/s'),
        file('d1/s/b'),
        dir('d10'),
        file('d10/c'),
        file('d1 x'),
        file('d1.txt'),
      ],
    });
  });
  lib.write(() => lib.append('entries.deleted', { loc, keys: [k('d1')] }));
  t.deepEqual(keys(), ['d1 x', 'd1.txt', 'd10', 'd10/c']);
  // A move onto an existing folder replaces it; the moved folder's children follow it.
  lib.write(() => lib.append('entries.upserted', { loc, e: [dir('m'), file('m/x'), dir('m/y'), file('m/y/z')] }));
  lib.write(() => lib.append('entries.moved', { loc, moves: [[k('m'), k('d10')]] }));
  t.deepEqual(keys(), ['d1 x', 'd1.txt', 'd10', 'd10/x', 'd10/y', 'd10/y/z']);
  // Removing a name that is not there changes nothing.
  lib.write(() => lib.append('entries.deleted', { loc, keys: [k('nope'), k('d1')] }));
  t.is(keys().length, 6);
  lib.flush();
  const r = await core.query<{ equal: boolean }>('replay.check', {});
  t.true(r.equal, 'a replay of the log gives the same rows');
});
