// Pairing lands in the shared library, through the real CLI and daemons: the joined library is
// current at once (search finds the other device's files with no --library), the unused default
// of the first start is gone, and a device whose default was used keeps it and calls the joined
// one by a local alias, which every command takes. And tags of one name made apart read as one.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { sd, sdJson, startDaemon, stopDaemon, until } from './helpers.js';

interface Lib {
  id: string;
  name: string;
  sharedName: string;
  alias: string | null;
  current: boolean;
}

test('pair join makes the joined library current, drops an unused default, aliases a taken name', async (t) => {
  const [a, b, c] = [tempDir(t), tempDir(t), tempDir(t)];
  const photos = tempDir(t);
  writeFileSync(join(photos, 'beach.jpg'), 'sand');
  startDaemon(t, a, ['--p2p-port', '0', '--device-name', 'laptop1']);
  startDaemon(t, b, ['--p2p-port', '0', '--device-name', 'laptop2']);
  startDaemon(t, c, ['--p2p-port', '0', '--device-name', 'server']);
  t.is(sd(a, ['location', 'add', photos, '--wait']).code, 0);
  const [shared] = sdJson<Lib[]>(t, a, ['library', 'list']);

  // laptop2 never used its default: after the join it has one library, the shared one, current.
  const code = sdJson<{ result: { code: string } }>(t, a, ['pair', 'invite']).result.code;
  const joined = sd(b, ['pair', 'join', code]);
  t.is(joined.code, 0, joined.err);
  t.regex(joined.out, /joined "default" \(\w+\) from laptop1/);
  t.regex(joined.out, /current library: "default"; the unused "default" made at first start was removed \(verified\)/);
  t.deepEqual(
    sdJson<Lib[]>(t, b, ['library', 'list']).map((l) => [l.id, l.name, l.current]),
    [[shared!.id, 'default', true]],
  );
  t.notRegex(sd(b, ['library', 'list']).out, /SHARED NAME/, 'no alias, no extra column');
  await until('search on laptop2', () => sdJson<unknown[]>(t, b, ['search', 'beach']).length === 1, 60_000);

  // The server used its default (a tag): it keeps it; the joined library is current, as "default (2)".
  t.is(sd(c, ['tag', 'create', 'mine']).code, 0);
  const code2 = sdJson<{ result: { code: string } }>(t, a, ['pair', 'invite']).result.code;
  const joined2 = sdJson<{ result: { current: Lib; dropped: Lib | null; library: string } }>(t, c, [
    'pair',
    'join',
    code2,
  ]);
  t.like(joined2.result.current, { id: shared!.id, name: 'default (2)', sharedName: 'default', alias: 'default (2)' });
  t.is(joined2.result.dropped, null);
  const libs = sdJson<Lib[]>(t, c, ['library', 'list']);
  t.deepEqual(
    libs.map((l) => [l.name, l.sharedName, l.current]),
    [
      ['default', 'default', false],
      ['default (2)', 'default', true],
    ],
  );
  const table = sd(c, ['library', 'list']).out;
  t.regex(table, /NAME\s+SHARED NAME\s+ID/);
  t.regex(table, /\*\s+default \(2\)\s+default\s+[0-9a-f-]{36}/);
  await until('search on the server', () => sdJson<unknown[]>(t, c, ['search', 'beach']).length === 1, 60_000);
  t.regex(sd(c, ['library', 'info']).out, /name\s+default \(2\) \(current\)\nshared as\s+default \(the name here/);

  // Every command takes the alias, the id prefix, and the name for the library called so here.
  t.is(sdJson<unknown[]>(t, c, ['--library', 'default (2)', 'search', 'beach']).length, 1);
  t.is(sdJson<unknown[]>(t, c, ['--library', shared!.id.slice(0, 8), 'search', 'beach']).length, 1);
  t.is(sd(c, ['library', 'use', 'default']).code, 0);
  t.deepEqual(sdJson<unknown[]>(t, c, ['search', 'beach']), [], "the server's own library has no beach");
  t.is(sd(c, ['library', 'use', 'default (2)']).code, 0);
  const clash = sd(c, ['library', 'create', 'default (2)']);
  t.is(clash.code, 1);
  t.regex(clash.err, /already called "default \(2\)" \(a local alias of the shared name "default"\).*E_LIBRARY_EXISTS/);
});

test('tags of one name made apart are one tag in `sd tag list`, `search --tag` and `tag remove`', async (t) => {
  const [a, c] = [tempDir(t), tempDir(t)];
  const photos = tempDir(t);
  const rack = tempDir(t);
  writeFileSync(join(photos, 'beach.jpg'), 'sand');
  writeFileSync(join(rack, 'server-red.txt'), 'rack');
  startDaemon(t, a, ['--p2p-port', '0', '--device-name', 'laptop']);
  startDaemon(t, c, ['--p2p-port', '0', '--device-name', 'server']);
  t.is(sd(a, ['location', 'add', photos, '--wait']).code, 0);
  const code = sdJson<{ result: { code: string } }>(t, a, ['pair', 'invite']).result.code;
  t.is(sd(c, ['pair', 'join', code]).code, 0);
  t.is(sd(c, ['location', 'add', rack, '--wait']).code, 0);

  // Apart: the server is off the network while both make a tag "red".
  stopDaemon(c);
  t.is(sd(a, ['tag', 'create', 'red']).code, 0);
  t.is(sd(a, ['tag', 'apply', 'red', join(photos, 'beach.jpg')]).code, 0);
  startDaemon(t, c, ['--p2p-port', 'off']);
  t.is(sd(c, ['tag', 'create', 'red', '--color', '#ff0000']).code, 0);
  t.is(sd(c, ['tag', 'apply', 'red', join(rack, 'server-red.txt')]).code, 0);
  stopDaemon(c);
  startDaemon(t, c, ['--p2p-port', '0']);
  await until(
    "the server's red on the laptop",
    () => sdJson<{ ids: string[] }[]>(t, a, ['tag', 'list']).some((r) => r.ids.length === 2),
    60_000,
  );
  t.regex(sd(a, ['tag', 'list']).out, /red\s+[0-9a-f]{8} \+1\s+#ff0000\s+-\s+2\s+2/);
  await until('search by tag', () => sdJson<unknown[]>(t, a, ['search', '--tag', 'red']).length === 2, 30_000);
  const removed = sd(a, ['tag', 'remove', 'red', join(rack, 'server-red.txt'), '--device', 'server']);
  t.is(removed.code, 0, removed.err);
  t.regex(removed.out, /untag 1 file\(s\) from "red" \(1 content item\(s\) change\) \(verified\)/);
  t.deepEqual(
    sdJson<{ name: string }[]>(t, a, ['search', '--tag', 'red']).map((h) => h.name),
    ['beach.jpg'],
  );
});
