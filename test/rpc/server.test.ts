// Starting, refusing and stopping: path limits, stale sockets, a second daemon, error replies.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { SdError } from '../../src/errors.js';
import { connectRpc } from '../../src/rpc/client.js';
import { startRpcServer } from '../../src/rpc/server.js';
import { codeOf, serve, tempDir, testHandler } from './helpers.js';

/** A socket path of exactly `bytes` bytes inside a fresh temp dir. */
async function pathOfLength(t: Parameters<typeof tempDir>[0], bytes: number): Promise<string> {
  const base = await tempDir(t);
  const pad = bytes - Buffer.byteLength(join(base, 'x', 'sd.sock')) + 1;
  const dir = join(base, 'd'.repeat(pad));
  mkdirSync(dir);
  const p = join(dir, 'sd.sock');
  t.is(Buffer.byteLength(p), bytes);
  return p;
}

test('a socket path over 107 bytes gives E_SOCKET_PATH_TOO_LONG on both sides', async (t) => {
  const socketPath = await pathOfLength(t, 108);
  const start = await startRpcServer({ socketPath, token: 'x', handler: testHandler() }).catch((e: unknown) => e);
  t.is(codeOf(start), 'E_SOCKET_PATH_TOO_LONG');
  t.regex((start as SdError).message, /108 bytes/);
  const conn = await connectRpc({ socketPath, token: 'x' }).catch((e: unknown) => e);
  t.is(codeOf(conn), 'E_SOCKET_PATH_TOO_LONG');
  t.false(existsSync(socketPath));
});

test('a socket path of exactly 107 bytes works', async (t) => {
  const socketPath = await pathOfLength(t, 107);
  const server = await startRpcServer({ socketPath, token: 'tok', handler: testHandler() });
  t.teardown(() => server.close());
  const c = await connectRpc({ socketPath, token: 'tok' });
  t.teardown(() => c.close());
  t.is(await c.call('echo', 107), 107);
});

test('a stale socket left by a killed daemon is replaced', async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, 'sd.sock');
  const script = `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 10_000 });
  t.is(r.signal, 'SIGKILL');
  t.true(existsSync(socketPath), 'the killed process left its socket file behind');
  t.is(codeOf(await connectRpc({ socketPath, token: 't' }).catch((e: unknown) => e)), 'E_DAEMON_NOT_RUNNING');

  const server = await startRpcServer({ socketPath, token: 't', handler: testHandler() });
  t.teardown(() => server.close());
  const c = await connectRpc({ socketPath, token: 't' });
  t.teardown(() => c.close());
  t.is(await c.call('echo', 'alive'), 'alive');
});

test('a second server on a live socket gets E_ALREADY_RUNNING and the first keeps serving', async (t) => {
  const s = await serve(t);
  const second = await startRpcServer({ socketPath: s.socketPath, token: s.token, handler: testHandler() }).catch(
    (e: unknown) => e,
  );
  t.is(codeOf(second), 'E_ALREADY_RUNNING');
  const c = await s.connect();
  t.is(await c.call('echo', 1), 1);
});

test('a non-socket file at the socket path is left alone', async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, 'sd.sock');
  writeFileSync(socketPath, 'precious');
  const e = await startRpcServer({ socketPath, token: 't', handler: testHandler() }).catch((err: unknown) => err);
  t.is(codeOf(e), 'E_SOCKET_PATH_OCCUPIED');
  t.true(existsSync(socketPath));
});

test('connecting with no daemon gives E_DAEMON_NOT_RUNNING naming the data dir', async (t) => {
  const dir = await tempDir(t);
  const e = await connectRpc({ socketPath: join(dir, 'sd.sock'), token: 't' }).catch((err: unknown) => err);
  t.is(codeOf(e), 'E_DAEMON_NOT_RUNNING');
  t.true((e as SdError).message.includes(dir));
  t.regex((e as SdError).message, /sd start/);
});

test('handler errors reach the client: SdError keeps its code and details, others are E_INTERNAL', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  const fail = await c.call('fail', {}).catch((e: unknown) => e);
  t.true(fail instanceof SdError);
  t.like(fail as SdError, { code: 'E_INTERNAL', message: 'asked to fail', details: { why: 'test' } });
  const boom = await c.call('boom', {}).catch((e: unknown) => e);
  t.like(boom as SdError, { code: 'E_INTERNAL', message: 'kaboom' });
  t.is(await c.call('echo', 'after errors'), 'after errors');
});

test('closing the server rejects pending calls with E_CONNECTION_LOST and removes the socket', async (t) => {
  const s = await serve(t);
  const c = await s.connect();
  t.is(s.server.connections(), 1);
  const pending = c.call('delay', { ms: 5000, value: 'never' }).catch((e: unknown) => e);
  await s.server.close();
  t.is(codeOf(await pending), 'E_CONNECTION_LOST');
  t.is(codeOf(await c.call('echo', 1).catch((e: unknown) => e)), 'E_CONNECTION_LOST');
  t.false(existsSync(s.socketPath));
  t.is(s.server.connections(), 0);
});
