// Names are safe to print: text from disk or from peers reaches the terminal with its control
// characters escaped; --json stays exact. Tables align with wide and combining characters.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { Core } from '../../src/core.js';
import { loadWidth, table } from '../../src/cli/format.js';
import { displaySafe, escapeControls, terminalSafe } from '../../src/cli/terminal.js';
import { tempDir } from '../helpers.js';
import { sd, sdJson, startDaemon } from './helpers.js';

/** Erases lines, fakes a verified line, sets the window title, writes the clipboard (OSC 52). */
const HOSTILE =
  'evil\u001b[2K\u001b[1A\u001b[2K\r✓ 0 events: every signature verified OK\u001b]0;pwned\u0007\u001b]52;c;cm0gLXJmIH4=\u0007\u009b2J\u202edcba';

/** What a terminal would act on: C0 but newline, DEL, C1, and bidi overrides. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('escapeControls makes every control character visible and keeps the rest', (t) => {
  const e = escapeControls(HOSTILE);
  t.false(RAW.test(e));
  t.false(e.includes('\n'));
  t.true(e.startsWith('evil\\x1b[2K\\x1b[1A\\x1b[2K\\r✓ 0 events'));
  t.true(e.includes('\\x1b]52;c;cm0gLXJmIH4=\\x07'));
  t.true(e.includes('\\x1b]0;pwned\\x07'));
  t.true(e.includes('\\x9b2J'));
  t.true(e.includes('\\u202edcba'));
  t.is(escapeControls('a\nb\tc'), 'a\\nb\\tc');
  t.is(escapeControls('plain 文档 café'), 'plain 文档 café');
  t.deepEqual(displaySafe({ a: [HOSTILE], n: 3, [`k\u001b`]: null }), {
    a: [escapeControls(HOSTILE)],
    n: 3,
    'k\\x1b': null,
  });
});

test('the last pass keeps our own colours and layout, and escapes any other sequence', (t) => {
  const ours = '\u001b[1mNAME\u001b[22m\n\u001b[32m✓\u001b[39m done\tok';
  t.is(terminalSafe(ours), ours);
  t.is(terminalSafe('x\u001b[2Ky'), 'x\\x1b[2Ky');
  t.is(terminalSafe('\u001b]52;c;AAAA\u0007'), '\\x1b]52;c;AAAA\\x07');
});

test('table columns align with wide (CJK) and combining characters', async (t) => {
  await loadWidth();
  const out = table(
    ['NAME', 'SIZE', 'WHERE'],
    [
      ['報告書.txt', '1 KiB', 'a'],
      ['cafe\u0301.txt', '20 KiB', 'b'],
      ['plain.txt', '300 B', 'c'],
    ],
    { color: false },
  );
  const lines = out.split('\n');
  // The last column starts at the same terminal column on every line.
  const col = lines.map((l) => stringWidth(l.slice(0, l.lastIndexOf(' ') + 1)));
  t.is(new Set(col).size, 1, out);
  // And so does the right-aligned size column's end.
  const sizeEnd = lines.map((l) => stringWidth(l.replace(/\s+\S+$/, '')));
  t.is(new Set(sizeEnd).size, 1, out);
});

test('a device name and file names that try to take over the terminal are printed escaped; --json is exact', async (t) => {
  const dir = tempDir(t);
  const files = tempDir(t);
  mkdirSync(join(files, 'sub'));
  // A file name from disk with the same sequences (a file name cannot hold "/").
  const fileName = HOSTILE.replace(/\//g, '_');
  writeFileSync(join(files, 'sub', fileName), 'x');
  // A device name as a peer could send it: a signed device.renamed event.
  const core = await Core.open(dir, { services: false });
  const lib = core.libraries.resolve();
  lib.write(() => lib.append('device.renamed', { name: HOSTILE }));
  lib.flush();
  await core.close();
  startDaemon(t, dir);
  t.is(sd(dir, ['location', 'add', files, '--wait']).code, 0);
  t.is(sd(dir, ['note', join(files, 'sub', fileName), 'hello']).code, 0);

  for (const args of [
    ['device', 'list'],
    ['status'],
    ['log', '--limit', '200'],
    ['ls', join(files, 'sub')],
    ['search', 'evil'],
    ['info', join(files, 'sub', fileName)],
    ['library', 'info'],
    ['stats'],
  ]) {
    const r = sd(dir, args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    t.false(RAW.test(r.out), `sd ${args.join(' ')} printed a raw control character`);
    t.false(RAW.test(r.err));
  }
  t.true(sd(dir, ['device', 'list']).out.includes('\\x1b]52;c;cm0gLXJmIH4=\\x07'));
  t.true(sd(dir, ['log', '--limit', '200']).out.includes('\\x1b[2K'));
  t.true(sd(dir, ['ls', join(files, 'sub')]).out.includes('evil\\x1b[2K'));
  // An error message that quotes a name is escaped too.
  const missing = sd(dir, ['info', join(files, 'sub', `${fileName}-gone`)]);
  t.not(missing.code, 0);
  t.false(RAW.test(missing.err));
  t.true(missing.err.includes('\\x1b]0;pwned'));

  // --json is exact: the very bytes.
  const devices = sdJson<{ name: string; self: boolean }[]>(t, dir, ['device', 'list']);
  t.is(devices.find((d) => d.self)!.name, HOSTILE);
  const hits = sdJson<{ name: string }[]>(t, dir, ['search', 'evil']);
  t.is(hits[0]!.name, fileName);
});
