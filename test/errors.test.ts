// One catalogue of error codes: every code the sources name is in it, so a code a user or a script
// sees is one we keep; a code that comes from outside (a peer, a parsed reply) is mapped onto it.
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, SdError, isErrorCode } from '../src/errors.js';
import { codeOf } from '../src/error-codes.js';
import { toErrorValue } from '../src/errors.js';

const src = fileURLToPath(new URL('../../src', import.meta.url));
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : [],
  );

test('every E_ code named in the sources is in the catalogue', (t) => {
  const named = new Set<string>();
  for (const f of files(src)) for (const m of readFileSync(f, 'utf8').matchAll(/'(E_[A-Z0-9_]+)'/g)) named.add(m[1]!);
  const missing = [...named].filter((c) => !isErrorCode(c));
  t.deepEqual(missing, []);
  t.true(Object.keys(ERROR_CODES).length >= named.size - 5);
});

test('a code from outside the catalogue is mapped to a known one, never passed through', (t) => {
  t.is(codeOf('E_8S', 'E_REFUSED'), 'E_REFUSED');
  t.is(codeOf({ evil: true }, 'E_REFUSED'), 'E_REFUSED');
  t.is(codeOf('E_FLOOD', 'E_REFUSED'), 'E_FLOOD');
  t.deepEqual(toErrorValue(new Error('boom')), { code: 'E_INTERNAL', message: 'boom' });
  t.is(new SdError('E_BAD_INPUT', 'x').toJSON().code, 'E_BAD_INPUT');
});

// The CLI runs from a bundle with its own copy of errors.js, while `sd doctor` loads the compiled
// modules beside it: a second module instance (a different URL) stands in for that copy here.
test('an SdError made by another copy of the module is an SdError, with its code', async (t) => {
  const other = (await import(
    `${new URL('../src/errors.js', import.meta.url).href}?copy`
  )) as typeof import('../src/errors.js');
  t.not(other.SdError, SdError);
  const e = new other.SdError('E_DAEMON_NOT_RUNNING', 'no daemon');
  t.true(e instanceof SdError);
  t.true(new SdError('E_USAGE', 'x') instanceof other.SdError);
  t.deepEqual(toErrorValue(e), { code: 'E_DAEMON_NOT_RUNNING', message: 'no daemon' });
  // anything else is not one, even with an E_ code
  t.false(Object.assign(new Error('x'), { code: 'E_USAGE' }) instanceof SdError);
  t.false((null as unknown as object) instanceof SdError);
  t.is(toErrorValue(Object.assign(new Error('boom'), { code: 'E_USAGE' })).code, 'E_INTERNAL');
});
