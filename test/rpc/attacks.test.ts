// Each hostile or broken client is refused while a well-behaved client, connected before the
// attack and with a call in flight during it, keeps getting correct answers.
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { SdError } from '../../src/errors.js';
import { encodeFrame } from '../../src/rpc/frame.js';
import { codeOf, eventually, rawConnect, serve, type Served } from './helpers.js';

type Attack = (t: ExecutionContext, s: Served) => Promise<void>;

const survives = test.macro(async (t, attack: Attack) => {
  const s = await serve(t);
  const good = await s.connect();
  t.deepEqual(await good.call('echo', { n: 1 }), { n: 1 });
  const inFlight = good.call('delay', { ms: 150, value: 'still here' });

  await attack(t, s);

  const bytes = Buffer.from([0, 1, 2, 255]);
  t.deepEqual(await good.call('echo', { n: 2, bytes }), { n: 2, bytes });
  t.is(await inFlight, 'still here');
  const fresh = await s.connect();
  t.is(await fresh.call('echo', 'fresh'), 'fresh');
  // The attacker's connection is gone, the two good ones remain.
  t.true(await eventually(() => s.server.connections() === 2), `connections: ${s.server.connections()}`);
});

function firstError(replies: unknown[]): { id: number; code: string } | undefined {
  const r = replies[0] as { id: number; ok: boolean; error?: { code: string } } | undefined;
  return r && r.ok === false && r.error ? { id: r.id, code: r.error.code } : undefined;
}

test('a request without a token gets E_BAD_TOKEN and is disconnected', survives, async (t, s) => {
  const raw = await rawConnect(t, s.socketPath);
  raw.sock.write(encodeFrame({ id: 7, op: 'echo', args: 'hi' }));
  await raw.closed();
  t.deepEqual(firstError(raw.replies), { id: 7, code: 'E_BAD_TOKEN' });
  t.is(raw.replies.length, 1);
});

test('a wrong token gets E_BAD_TOKEN and is disconnected', survives, async (t, s) => {
  const bad = await s.connect('0'.repeat(64));
  const first = await bad.call('echo', 'hi').catch((e: unknown) => e);
  t.is(codeOf(first), 'E_BAD_TOKEN');
  t.regex((first as SdError).message, /token/);
  const second = await bad.call('echo', 'again').catch((e: unknown) => e);
  t.is(codeOf(second), 'E_BAD_TOKEN', 'later calls on the refused connection fail with the same reason');
});

test('a 1 GiB length prefix is refused at once without waiting for the body', survives, async (t, s) => {
  const raw = await rawConnect(t, s.socketPath);
  raw.sock.write(Buffer.from([0x40, 0, 0, 0])); // 1 GiB, and not one byte of body
  await raw.closed();
  t.deepEqual(firstError(raw.replies), { id: 0, code: 'E_FRAME_TOO_LARGE' });
});

test('1 MiB of random bytes gets the connection closed', survives, async (t, s) => {
  let junk = randomBytes(1024 * 1024);
  // A prefix claiming more than we send but under the limit would just wait for the rest: reroll it.
  for (let i = 0; i < 100 && junk.readUInt32BE(0) > junk.length - 4 && junk.readUInt32BE(0) <= 16 * 1024 * 1024; i++) {
    junk = randomBytes(1024 * 1024);
  }
  const raw = await rawConnect(t, s.socketPath);
  raw.sock.write(junk); // no end(): the server must hang up on its own
  await raw.closed();
  const code = firstError(raw.replies)?.code;
  t.true(
    code === undefined || ['E_FRAME_TOO_LARGE', 'E_MALFORMED_FRAME', 'E_BAD_REQUEST', 'E_BAD_TOKEN'].includes(code),
    String(code),
  );
});

test('an unknown operation gets E_UNKNOWN_OP and the connection keeps working', survives, async (t, s) => {
  const c = await s.connect();
  const e = await c.call('no.such.op', {}).catch((err: unknown) => err);
  t.is(codeOf(e), 'E_UNKNOWN_OP');
  t.regex((e as SdError).message, /no\.such\.op/);
  const se = await c.stream('echo', {}, () => {}).done.catch((err: unknown) => err);
  t.is(codeOf(se), 'E_UNKNOWN_OP', 'echo is a call, not a stream');
  t.is(await c.call('echo', 'ok'), 'ok');
  await c.close();
});

test('a frame whose body is not msgpack gets E_MALFORMED_FRAME and is disconnected', survives, async (t, s) => {
  const raw = await rawConnect(t, s.socketPath);
  const body = Buffer.from([0xc1, 0xc1, 0xc1]); // 0xc1 is never used by msgpack
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  raw.sock.write(frame);
  await raw.closed();
  t.deepEqual(firstError(raw.replies), { id: 0, code: 'E_MALFORMED_FRAME' });
});

test('a well-formed frame that is not a request gets E_BAD_REQUEST and is disconnected', survives, async (t, s) => {
  const raw = await rawConnect(t, s.socketPath);
  raw.sock.write(encodeFrame({ id: 3, token: s.token, op: 42 }));
  await raw.closed();
  t.deepEqual(firstError(raw.replies), { id: 3, code: 'E_BAD_REQUEST' });
});

test('a frame over a configured limit is refused without harming the server', async (t) => {
  const s = await serve(t, 1024);
  const good = await s.connect();
  const big = await s.connect();
  const e = await big.call('echo', 'x'.repeat(4096)).catch((err: unknown) => err);
  t.is(codeOf(e), 'E_FRAME_TOO_LARGE');
  t.is(await good.call('echo', 'small'), 'small');
  t.true(await eventually(() => s.server.connections() === 1));
});
