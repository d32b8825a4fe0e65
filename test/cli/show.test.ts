// What the CLI shows, through the real binary against a real daemon: info with notes and
// favourites, fav list, search pages and unknown filters, folder sizes, log summaries that name
// things, events per library, job watch when idle, invite dates, refused empty paths.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { baseEnv, SD, sd, sdJson, startDaemon, until } from './helpers.js';

function library(t: Parameters<typeof tempDir>[0]): { dir: string; files: string } {
  const dir = tempDir(t);
  const files = tempDir(t);
  mkdirSync(join(files, 'pics', 'old'), { recursive: true });
  writeFileSync(join(files, 'pics', 'beach.jpg'), 'a'.repeat(1000));
  writeFileSync(join(files, 'pics', 'copy of beach.jpg'), 'a'.repeat(1000));
  writeFileSync(join(files, 'pics', 'old', 'dune.jpg'), 'b'.repeat(3000));
  for (let i = 0; i < 7; i++) writeFileSync(join(files, `note-${i}.txt`), `n${i}`);
  startDaemon(t, dir);
  const r = sd(dir, ['location', 'add', files, '--name', 'home', '--wait']);
  t.is(r.code, 0, r.err);
  return { dir, files };
}

test('sd info shows the note and the favourite; sd fav list and search --fav list favourites', (t) => {
  const { dir, files } = library(t);
  const beach = join(files, 'pics', 'beach.jpg');
  t.is(sd(dir, ['note', beach, 'sunset, day two']).code, 0);
  const before = sd(dir, ['info', beach]).out;
  t.regex(before, /^note\s+sunset, day two$/m);
  t.regex(before, /^favourite\s+no$/m);
  t.regex(sd(dir, ['fav', 'list']).out, /no favourites yet/);
  t.is(sd(dir, ['fav', beach]).code, 0); // `sd fav PATH` still marks
  t.regex(sd(dir, ['info', beach]).out, /^favourite\s+yes$/m);
  // The content is the favourite: both copies are listed, nothing else.
  const favs = sdJson<{ name: string }[]>(t, dir, ['fav', 'list']);
  t.deepEqual(favs.map((f) => f.name).sort(), ['beach.jpg', 'copy of beach.jpg']);
  t.deepEqual(sdJson<{ name: string }[]>(t, dir, ['search', '--fav']).length, 2);
  t.regex(sd(dir, ['fav', 'list']).out, /beach\.jpg/);
  t.is(sd(dir, ['unfav', beach]).code, 0);
  t.is(sdJson<unknown[]>(t, dir, ['fav', 'list']).length, 0);
  // Relative paths are resolved against the folder sd runs in.
  const rel = sd(dir, ['info', 'beach.jpg'], {}, join(files, 'pics'));
  t.is(rel.code, 0, rel.err);
  t.regex(rel.out, /^note\s+sunset, day two$/m);
});

test('search says when results were cut and how to see more; pages; unknown tag or location is an error with a suggestion; folders have their size', (t) => {
  const { dir } = library(t);
  const cut = sd(dir, ['search', 'note', '--limit', '3']);
  t.is(cut.code, 0);
  t.is(cut.out.trim().split('\n').length, 5); // header, 3 rows, the hint
  t.regex(cut.out, /results 1-3 shown; there are more: add --page 2, or a larger --limit/);
  const pages = [1, 2, 3].map((p) =>
    sdJson<{ name: string }[]>(t, dir, ['search', 'note', '--limit', '3', '--page', String(p)]),
  );
  t.deepEqual(
    pages.map((p) => p.length),
    [3, 3, 1],
  );
  t.is(new Set(pages.flat().map((r) => r.name)).size, 7);
  const last = sd(dir, ['search', 'note', '--limit', '3', '--page', '3']);
  t.regex(last.out, /results 7-7: the last page/);
  t.notRegex(sd(dir, ['search', 'note', '--limit', '7']).out, /there are more/);

  t.is(sd(dir, ['tag', 'create', 'holiday']).code, 0);
  const tag = sd(dir, ['search', '--tag', 'holidya']);
  t.is(tag.code, 1);
  t.regex(tag.err, /no tag "holidya" in this library\. Did you mean "holiday"\?.*\(E_TAG_NOT_FOUND\)/);
  const loc = sd(dir, ['search', '--location', 'hom']);
  t.is(loc.code, 1);
  t.regex(loc.err, /no location "hom".*Did you mean "home"\?.*\(E_LOCATION_NOT_FOUND\)/);
  t.is(sd(dir, ['search', '--location', 'home']).code, 0);
  const none = sd(dir, ['search', '--tag', 'nothing-like-it']);
  t.notRegex(none.err, /Did you mean/);

  const folders = sdJson<{ name: string; size: number }[]>(t, dir, ['search', 'pics', '--kind', 'folder']);
  t.deepEqual(
    folders.map((f) => [f.name, f.size]),
    [['pics', 5000]],
  );
  t.regex(sd(dir, ['search', 'old', '--kind', 'folder']).out, /old\s+folder\s+2\.9 KiB/);
  t.deepEqual(
    sdJson<{ name: string }[]>(t, dir, ['search', '--kind', 'folder', '--min-size', '4K']).map((f) => f.name),
    ['pics'],
  );
});

test('sd log names what changed; sd events names the library of each event', async (t) => {
  const { dir, files } = library(t);
  const beach = join(files, 'pics', 'beach.jpg');
  const events = spawn(process.execPath, [SD, '--data-dir', dir, 'events', '--kind', 'event'], { env: baseEnv() });
  let streamed = '';
  events.stdout.setEncoding('utf8').on('data', (d: string) => (streamed += d));
  t.teardown(() => events.kill());
  await new Promise((r) => setTimeout(r, 1500)); // subscribed
  for (const args of [
    ['tag', 'create', 'trip'],
    ['tag', 'apply', 'trip', beach],
    ['tag', 'rename', 'trip', 'holiday'],
    ['note', beach, 'sunny'],
    ['collection', 'create', 'best'],
    ['collection', 'add', 'best', beach],
    ['tag', 'delete', 'holiday', '--yes'],
    ['library', 'rename', 'photos'],
  ])
    t.is(sd(dir, args).code, 0, args.join(' '));
  const log = sd(dir, ['log', '--type', 'shared', '--limit', '20']).out;
  for (const line of [
    'created tag "trip"',
    'tagged 1 content item(s) with "trip"',
    'renamed tag "trip" → "holiday"',
    'note on beach.jpg',
    'created collection "best"',
    'added 1 content item(s) to collection "best"',
    'deleted tag "holiday"',
  ])
    t.true(log.includes(line), `${line} in\n${log}`);
  t.regex(sd(dir, ['log', '--type', 'library']).out, /renamed library "default" → "photos"/);
  t.regex(sd(dir, ['log', '--type', 'location']).out, /indexed location "home"/);
  await until('the events stream', () => streamed.includes('deleted tag "holiday"'), 20_000);
  t.regex(streamed, /\s(default|photos)\s+[a-z2-7]{8} #\d+\s+shared\.changed\s+renamed tag "trip" → "holiday"/);
});

test('job watch says "no jobs running" while idle; invite shows the date; an empty path is refused', async (t) => {
  const { dir, files } = library(t);
  const watch = spawn(process.execPath, [SD, '--data-dir', dir, 'job', 'watch'], { env: baseEnv() });
  let out = '';
  watch.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  t.teardown(() => watch.kill());
  await until('job watch', () => out.includes('no jobs running'), 20_000);
  t.is(sd(dir, ['location', 'rescan', 'home', '--full']).code, 0);
  await until('the job to end', () => (out.match(/no jobs running/g) ?? []).length >= 2, 30_000);
  t.regex(out, /index (queued|running)/);

  startDaemonPeers(t, dir);
  const inv = sd(dir, ['pair', 'invite', '--ttl', '48h']);
  t.is(inv.code, 0, inv.err);
  const expires = new Date(Date.now() + 48 * 3600_000);
  const day = `${expires.getFullYear()}-${String(expires.getMonth() + 1).padStart(2, '0')}-${String(expires.getDate()).padStart(2, '0')}`;
  t.regex(inv.out, new RegExp(`valid until ${day} \\d\\d:\\d\\d:\\d\\d \\((47h|48h) \\d+m from now\\)`));

  for (const args of [
    ['location', 'add', ''],
    ['ls', ''],
    ['info', ''],
    ['mv', '', files],
  ]) {
    const r = sd(dir, args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    t.regex(r.err, /is empty/);
  }
  t.is(sdJson<unknown[]>(t, dir, ['location', 'list']).length, 1);
});

function startDaemonPeers(t: Parameters<typeof tempDir>[0], dir: string): void {
  t.is(sd(dir, ['stop']).code, 0);
  startDaemon(t, dir, ['--p2p-port', '0']);
}
