// What the catalogue admits of an entries.upserted row: six fields, or seven with a content id on
// a file (a first index writes files with their ids). Anything else from a member is refused.
import test from 'ava';
import { catalogueCheck } from '../../src/events/catalogue.js';

const upsert = (e: unknown[]) =>
  catalogueCheck({ type: 'entries.upserted', body: { loc: 'loc-1', e }, hlc: { ms: 1, c: 0 } } as never, 100);

const cid = '0123456789abcdef0123456789abcdef';

test('an entries.upserted row has six fields, or seven with a content id on a file', (t) => {
  t.is(upsert([['a', 0, 10, 1, 2, 'text']]), undefined);
  t.is(upsert([['a', 0, 10, 1, 2, 'text', cid]]), undefined);
  t.is(upsert([['d', 1, 0, 1, 2, 'folder']]), undefined);
});

test('a content id on a folder, a link or a special file, a bad one, or an eighth field is refused', (t) => {
  for (const [row, why] of [
    [['d', 1, 0, 1, 2, 'folder', cid], 'a folder'],
    [['l', 2, 0, 1, 2, 'symlink', cid], 'a link'],
    [['p', 3, 0, 1, 2, 'fifo', cid], 'a named pipe'],
    [['a', 0, 10, 1, 2, 'text', 'x'.repeat(129)], 'an id of 129 characters'],
    [['a', 0, 10, 1, 2, 'text', 42], 'a number for an id'],
    [['a', 0, 10, 1, 2, 'text', cid, 'more'], 'eight fields'],
    [['a', 0, 10, 1, 2], 'five fields'],
  ] as const) {
    const r = upsert([row]);
    t.is(r?.code, 'E_BAD_BODY', why);
  }
});

test('the rows of a batch: a list of at most 20,000 rows, each checked; anything else is refused', (t) => {
  const row = ['a', 0, 10, 1, 2, 'text'];
  const body = (e: unknown) =>
    catalogueCheck({ type: 'entries.upserted', body: { loc: 'loc-1', e }, hlc: { ms: 1, c: 0 } } as never, 100);
  t.is(body([]), undefined, 'an empty batch');
  t.is(body(new Array(20_000).fill(row)), undefined, '20,000 rows');
  for (const [e, why] of [
    [new Array(20_001).fill(row), '20,001 rows'],
    ['a,0,10,1,2,text', 'a string'],
    [{ 0: row, length: 1 }, 'an array-like object'],
    [null, 'null'],
    [[row, row, 'row'], 'a row that is not a list'],
    [[row, ['../x', 0, 10, 1, 2, 'text']], 'a key with ".."'],
  ] as const) {
    const r = body(e);
    t.is(r?.code, 'E_BAD_BODY', why);
  }
  // The moves of a batch use the same rows.
  const moves = (m: unknown) =>
    catalogueCheck({ type: 'entries.moved', body: { loc: 'loc-1', moves: m }, hlc: { ms: 1, c: 0 } } as never, 100);
  t.is(moves([['a', 'b']])?.code, undefined);
  t.is(moves('a b')?.code, 'E_BAD_BODY');
});
