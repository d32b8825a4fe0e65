// Under umask 000 the token and the socket must still be private to the owner.
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { SdError } from '../../src/errors.js';
import { startRpcServer } from '../../src/rpc/server.js';
import { ensureToken, readToken, tokenPath, tokensEqual } from '../../src/rpc/token.js';
import { tempDir, testHandler } from './helpers.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

// umask is process-wide: run serially and restore it whatever happens.
test.serial('token file and socket are 0600 under umask 000', async (t) => {
  const old = process.umask(0);
  t.teardown(() => void process.umask(old));
  const dir = await tempDir(t);
  const token = ensureToken(dir);
  t.regex(token, /^[0-9a-f]{64}$/);
  t.is(mode(tokenPath(dir)).toString(8), '600');

  const socketPath = join(dir, 'sd.sock');
  const server = await startRpcServer({ socketPath, token, handler: testHandler() });
  t.teardown(() => server.close());
  t.true(statSync(socketPath).isSocket());
  t.is(mode(socketPath).toString(8), '600');
  t.is(process.umask(0), 0, 'the server restored the umask it borrowed');
});

test.serial('ensureToken keeps an existing token, repairs its mode and replaces a corrupt one', async (t) => {
  const dir = await tempDir(t);
  const first = ensureToken(dir);
  t.is(ensureToken(dir), first);
  t.is(readToken(dir), first);
  chmodSync(tokenPath(dir), 0o644);
  t.is(ensureToken(dir), first);
  t.is(mode(tokenPath(dir)).toString(8), '600');

  writeFileSync(tokenPath(dir), 'short');
  t.is(t.throws(() => readToken(dir), { instanceOf: SdError })?.code, 'E_BAD_TOKEN_FILE');
  const replaced = ensureToken(dir);
  t.not(replaced, first);
  t.regex(replaced, /^[0-9a-f]{64}$/);
});

test('readToken without a token file says to start the daemon', async (t) => {
  const dir = await tempDir(t);
  const e = t.throws(() => readToken(dir), { instanceOf: SdError });
  t.is(e?.code, 'E_NO_TOKEN');
  t.regex(e?.message ?? '', /sd start/);
});

test('tokensEqual compares content, including different lengths', (t) => {
  const a = 'a'.repeat(64);
  t.true(tokensEqual(a, 'a'.repeat(64)));
  t.false(tokensEqual(a, `${'a'.repeat(63)}b`));
  t.false(tokensEqual(a, 'a'.repeat(63)));
  t.false(tokensEqual(a, ''));
});
