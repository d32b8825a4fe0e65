// Multiplexing on one connection: concurrent calls answered by id, streams in order, cancel.
import test from 'ava';
import { codeOf, eventually, serve } from './helpers.js';

test('200 concurrent calls on one connection each get their own result', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  // Random delays make replies come back out of order; each must still reach its caller.
  const calls = Array.from({ length: 200 }, (_, i) =>
    c.call('delay', { ms: Math.floor(Math.random() * 20), value: { i, tag: `r${i}` } }),
  );
  const results = await Promise.all(calls);
  t.deepEqual(
    results,
    Array.from({ length: 200 }, (_, i) => ({ i, tag: `r${i}` })),
  );
  t.is(s.server.connections(), 1);
});

test('a stream delivers every item in order, then ends', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  const items: unknown[] = [];
  await c.stream('count', { n: 1000 }, (item) => items.push(item)).done;
  t.deepEqual(
    items,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  t.is(await c.call('echo', 'after stream'), 'after stream');
});

test('cancel stops a stream: done resolves, no more items, the handler sees the abort', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  const items: number[] = [];
  const st = c.stream('ticker', {}, (item) => {
    items.push(item as number);
    if (items.length === 3) st.cancel();
  });
  await st.done;
  const atEnd = items.length;
  t.deepEqual(items, [0, 1, 2], 'no item is delivered after cancel()');
  t.true(await eventually(() => s.seen.aborted === 1), 'the handler was aborted');
  await new Promise((r) => setTimeout(r, 50)); // ten ticker periods: nothing more may arrive
  t.is(items.length, atEnd);
  t.is(await c.call('echo', 'after cancel'), 'after cancel');
});

test('a stream and calls interleave on one connection', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  const items: unknown[] = [];
  const st = c.stream('ticker', {}, (item) => items.push(item));
  const answers = await Promise.all([c.call('echo', 1), c.call('delay', { ms: 20, value: 2 }), c.call('echo', 3)]);
  t.deepEqual(answers, [1, 2, 3]);
  st.cancel();
  await st.done;
  t.true(items.length > 0);
});

test('a client disconnecting aborts its streams on the server', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  let got = 0;
  const st = c.stream('ticker', {}, () => got++);
  t.true(await eventually(() => got > 0));
  await c.close();
  t.is(codeOf(await st.done.catch((e: unknown) => e)), 'E_CONNECTION_LOST');
  t.true(await eventually(() => s.seen.aborted === 1));
  t.true(await eventually(() => s.server.connections() === 0));
});

test('an onItem callback that throws ends its stream with that error', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  const st = c.stream('ticker', {}, () => {
    throw new Error('consumer broke');
  });
  const e = await st.done.catch((err: unknown) => err);
  t.is(codeOf(e), 'E_STREAM_CONSUMER');
  t.true(await eventually(() => s.seen.aborted === 1), 'the server was told to cancel');
  t.is(await c.call('echo', 'still fine'), 'still fine');
});
