// Encrypted libraries through the CLI: a rename survives a restart (it reaches .keyinfo), a
// wrong short passphrase is E_BAD_PASSPHRASE, and doctor reports a locked library as locked.
// Also doctor and a library that has no creation event.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Library } from '../../src/library/library.js';
import { loadOrCreateIdentity } from '../../src/identity.js';
import { initHashing } from '../../src/events/hash.js';
import { tempDir } from '../helpers.js';
import { sd, sdJson, startDaemon } from './helpers.js';

const PASS = { SD_LIBRARY_PASSPHRASE: 'correct horse battery' };

interface Lib {
  name: string;
  id: string;
  locked: boolean;
}

test('library rename reaches .keyinfo: after a restart the locked library shows the new name and unlocks by it', (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  t.is(sd(dir, ['library', 'create', 'vault', '--encrypt'], PASS).code, 0);
  t.is(sd(dir, ['--library', 'vault', 'library', 'rename', 'safe']).code, 0);
  const keyinfo = readdirSync(join(dir, 'libraries')).find((f) => f.endsWith('.keyinfo'))!;
  t.is((JSON.parse(readFileSync(join(dir, 'libraries', keyinfo), 'utf8')) as { name: string }).name, 'safe');
  t.is(sd(dir, ['stop']).code, 0);
  startDaemon(t, dir);
  const libs = sdJson<Lib[]>(t, dir, ['library', 'list']);
  t.deepEqual(
    libs.map((l) => [l.name, l.locked]),
    [
      ['default', false],
      ['safe', true],
    ],
  );
  const old = sd(dir, ['library', 'unlock', 'vault'], PASS);
  t.is(old.code, 1);
  t.regex(old.err, /E_NOT_LOCKED/);
  // A wrong passphrase, short or long, is a wrong passphrase.
  for (const wrong of ['short', 'a long wrong passphrase']) {
    const r = sd(dir, ['library', 'unlock', 'safe'], { SD_LIBRARY_PASSPHRASE: wrong });
    t.is(r.code, 1);
    t.regex(r.err, /E_BAD_PASSPHRASE/, r.err);
    t.notRegex(r.err, /E_WEAK_PASSPHRASE/);
  }
  t.is(sd(dir, ['library', 'unlock', 'safe'], PASS).code, 0);
  t.is(sdJson<{ name: string }>(t, dir, ['--library', 'safe', 'library', 'info']).name, 'safe');
  // Creating still asks for a strong one.
  const weak = sd(dir, ['library', 'create', 'other', '--encrypt'], { SD_LIBRARY_PASSPHRASE: 'short' });
  t.regex(weak.err, /E_WEAK_PASSPHRASE/);
});

test('doctor reports a locked library as locked, checks what it can, and exits 0 when that is all', (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  t.is(sd(dir, ['library', 'create', 'vault', '--encrypt'], PASS).code, 0);
  t.is(sd(dir, ['stop']).code, 0);
  const r = sd(dir, ['doctor'], { SD_LIBRARY_PASSPHRASE: '' });
  t.is(r.code, 0, r.out + r.err);
  t.regex(r.out, /✓ vault \(encrypted, locked\)/);
  t.regex(r.out, /key info and encryption in order/);
  t.regex(r.out, /log\s+not checked \(locked\)/);
  t.notRegex(r.out, /undefined|cannot open/);
  const j = sdJson<{ ok: boolean; libraries: { name: string; locked: boolean }[] }>(t, dir, ['doctor'], {
    SD_LIBRARY_PASSPHRASE: '',
  });
  t.true(j.ok);
  t.true(j.libraries.find((l) => l.name === 'vault')!.locked);
  // With the passphrase, it checks the log too.
  const full = sdJson<{ ok: boolean; libraries: { name: string; events: number | null }[] }>(t, dir, ['doctor'], PASS);
  t.true(full.ok);
  t.true(full.libraries.find((l) => l.name === 'vault')!.events! >= 1);
});

test('doctor notices a library with no creation event (a first start that was cut short)', async (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir);
  t.is(sd(dir, ['stop']).code, 0);
  // What a start killed between creating the file and its first event leaves behind.
  await initHashing();
  const id = '00000000-0000-4000-8000-000000000001';
  const lib = Library.open(join(dir, 'libraries', `${id}.db`), id, loadOrCreateIdentity(dir), { create: true });
  await lib.close();
  t.true(existsSync(join(dir, 'libraries', `${id}.db`)));
  const r = sd(dir, ['doctor']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, new RegExp(`✗ .*${id}\\.db`));
  t.regex(r.out, /no creation event: this library was never completely created/);
  t.regex(r.out, new RegExp(`sd library delete ${id}`));
  const j = JSON.parse(sd(dir, ['--json', 'doctor']).out) as {
    ok: boolean;
    libraries: { library: string; created: boolean | null }[];
  };
  t.false(j.ok);
  t.is(j.libraries.find((l) => l.library === id)!.created, false);
});
