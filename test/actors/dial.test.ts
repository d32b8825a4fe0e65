// Dialing a device that has several addresses: a dead one (a LAN address seen from elsewhere, a
// router's address without hairpin NAT) costs a moment, not a timeout.
import test from 'ava';
import { dialFirst } from '../../src/actors/network/dial.js';
import type { MessageTransport } from '../../src/transport/types.js';

const addr = (port: number) => ({ host: '127.0.0.1', port });

function transport(name: string, closed: string[]): MessageTransport {
  return { remoteAddress: name, close: () => void closed.push(name) } as unknown as MessageTransport;
}

test('a silent first address does not hold up a live second one; the late winner of a race is closed', async (t) => {
  const closed: string[] = [];
  let lateFirst: ((m: MessageTransport) => void) | undefined;
  const t0 = Date.now();
  const got = await dialFirst(
    [addr(1), addr(2)],
    (a) =>
      a.port === 1
        ? new Promise<MessageTransport>((r) => (lateFirst = r)) // silent, as a dropped SYN
        : Promise.resolve(transport('second', closed)),
    50,
  );
  t.is(got.remoteAddress, 'second');
  t.true(Date.now() - t0 < 1000, 'not a dial timeout');
  // The first address answers after all: that transport is closed, not leaked.
  lateFirst!(transport('first', closed));
  await new Promise((r) => setImmediate(r));
  t.deepEqual(closed, ['first']);
});

test('a refused address moves on at once; when every address fails, the error is the first address’s', async (t) => {
  const tried: number[] = [];
  const err = await t.throwsAsync(
    dialFirst(
      [addr(1), addr(2), addr(3)],
      (a) => {
        tried.push(a.port);
        return Promise.reject(new Error(`refused ${a.port}`));
      },
      60_000, // a refusal does not wait for the stagger
    ),
  );
  t.is(err?.message, 'refused 1');
  t.deepEqual(tried, [1, 2, 3]);
  await t.throwsAsync(dialFirst([], () => Promise.reject(new Error('x'))));
});
