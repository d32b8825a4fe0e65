// Hashing a location's files by key below its root (beneath.ts, HashPool.hashKeys): a folder
// swapped for a symlink after the walk is never followed, so a file outside the location is never
// read under an inside name; everything else hashes exactly as by path.
import test from 'ava';
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { arch, platform, release } from 'node:os';
import { createHashPool } from '../../src/jobs/hash-pool.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { beneath, closeRoot, openRoot, rootPin } from '../../src/jobs/beneath.js';
import { gitignoreAbove } from '../../src/jobs/gitignore.js';
import { encodeName, fsPathOf } from '../../src/jobs/names.js';
import { toKey } from '../../src/projections/entries.js';
import { walk, walkSync, type WalkEntry, type WalkError } from '../../src/jobs/walk.js';
import { tempDir } from './helpers.js';

const SYMLINK_FLAG = 8;

test('openat2 is used wherever the kernel has it (Linux 5.6+, koffi loaded)', (t) => {
  const [major, minor] = release().split('.').map(Number) as [number, number];
  const hasIt = platform() === 'linux' && (major > 5 || (major === 5 && minor >= 6)) && arch() === 'x64';
  // Elsewhere the hashing threads open by path, as before (said in the README's threat model).
  if (!hasIt) {
    t.log(`${platform()} ${release()} on ${arch()}: openat2 not expected here; the threads open by path`);
    return void t.pass();
  }
  t.truthy(beneath(), `Linux ${release()}: openat2 is callable`);
});

test("a key that does not name an entry below the root is refused, never resolved: not '..', not an empty or NUL key", async (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a'), { recursive: true });
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const dotdot = encodeName(Buffer.from('..'));
  const got = await pool.hashKeys(root, ['..', toKey('a/../..'), toKey(`a/${dotdot}`), toKey('a/.')], true);
  t.deepEqual(
    got.results.map((r) => ('error' in r ? r.error.code : 'hashed')),
    ['E_BAD_PATH', 'E_BAD_PATH', 'E_BAD_PATH', 'E_BAD_PATH'],
  );
  // No attributes of the root's parent (or of anything) are read for them.
  t.deepEqual(
    got.stats!.errors.map(([, code]) => code),
    ['E_BAD_PATH', 'E_BAD_PATH', 'E_BAD_PATH', 'E_BAD_PATH'],
  );
  t.deepEqual([...got.stats!.flags], [0, 0, 0, 0]);
  for (const keys of [['top', ''], [`top\0${toKey('a/x')}`]])
    await t.throwsAsync(() => pool.hashKeys(root, keys, false), { message: /not an entry key/ });
});

test('a folder swapped for a symlink after the walk: its files are refused, never read from where it points', async (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside', 'd');
  mkdirSync(join(root, 'd'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  // Same names and sizes inside and outside, different bytes: only the content id tells them apart.
  writeFileSync(join(root, 'd', 'f.txt'), 'inside!');
  writeFileSync(join(outside, 'f.txt'), 'SECRET!');
  writeFileSync(join(root, 'top.txt'), 'top');
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const keys = [toKey('d/f.txt'), toKey('top.txt')];

  const before = await pool.hashKeys(root, keys, true);
  t.is((before.results[0] as { contentId: string }).contentId, await contentIdOf(join(root, 'd', 'f.txt')));
  t.is((before.results[1] as { contentId: string }).contentId, await contentIdOf(join(root, 'top.txt')));
  t.is(before.stats!.errors.length, 0);

  renameSync(join(root, 'd'), join(root, 'd.real'));
  symlinkSync(outside, join(root, 'd'));
  const secret = await contentIdOf(join(outside, 'f.txt'));
  // By path, the same call reads the file outside (what a first index used to do).
  const byPath = await pool.hash([fsPathOf(root, 'd/f.txt')]);
  t.is((byPath[0] as { contentId: string }).contentId, secret, 'the swap really leads outside');

  const after = await pool.hashKeys(root, keys, true);
  const r = after.results[0]!;
  t.true('error' in r, 'the file below the swapped folder is not hashed');
  t.is('error' in r ? r.error.code : '', 'E_PATH_CHANGED');
  t.not('contentId' in r ? r.contentId : '', secret);
  // Its attributes are not read from outside either: its lstat refuses the folder by name.
  t.deepEqual(
    after.stats!.errors.map(([i, code]) => [i, code]),
    [[0, 'E_PATH_CHANGED']],
  );
  t.is(after.stats!.size[0], 0, 'no size read from the file outside');
  t.is((after.results[1] as { contentId: string }).contentId, await contentIdOf(join(root, 'top.txt')));
});

test('a file swapped for a symlink is refused and seen as a symlink; a name that is not UTF-8 hashes as by path; an unplugged root fails each file', async (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(base, 'target.txt'), 'elsewhere');
  symlinkSync(join(base, 'target.txt'), join(root, 'sub', 'link.txt'));
  const raw = Buffer.concat([
    Buffer.from(join(root, 'sub')),
    Buffer.from('/caf'),
    Buffer.from([0xe9]),
    Buffer.from('.txt'),
  ]);
  writeFileSync(raw, 'latin-1 name');
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const odd = toKey(`sub/${encodeName(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]))}`);
  const got = await pool.hashKeys(root, [toKey('sub/link.txt'), odd], true);
  const link = got.results[0]!;
  t.is('error' in link ? link.error.code : '', 'ELOOP');
  t.is(got.stats!.flags[0]! & SYMLINK_FLAG, SYMLINK_FLAG, 'its lstat finds the symlink itself');
  t.is((got.results[1] as { contentId: string }).contentId, await contentIdOf(raw));

  const gone = await pool.hashKeys(join(base, 'no-such-root'), [toKey('sub/link.txt'), odd], true);
  t.deepEqual(
    gone.results.map((r) => ('error' in r ? r.error.code : 'hashed')),
    ['ENOENT', 'ENOENT'],
  );
  t.deepEqual(
    gone.stats!.errors.map(([, code]) => code),
    ['ENOENT', 'ENOENT'],
  );
});

test('the walk never lists a folder swapped for a symlink after its parent was listed', (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'b', 'mine.txt'), 'mine');
  writeFileSync(join(root, 'a', 'z.txt'), 'z');
  mkdirSync(join(base, 'outside', 'deep'), { recursive: true });
  writeFileSync(join(base, 'outside', 'secret-name.txt'), 'x');
  const seen: string[] = [];
  const errors: { path: string; code: string }[] = [];
  const rules = { skipHidden: false, skipNames: [] };
  for (const batch of walkSync(root, rules, {
    onDirListed: (rel) => {
      // Once `a` is listed (b in it, a folder), b becomes a link to a folder outside.
      if (rel !== 'a') return;
      renameSync(join(root, 'a', 'b'), join(base, 'b.moved'));
      symlinkSync(join(base, 'outside'), join(root, 'a', 'b'));
    },
  })) {
    seen.push(...batch.entries.map((e) => e.relPath));
    errors.push(...batch.errors.map((e) => ({ path: e.path, code: e.code })));
  }
  t.false(
    seen.some((p) => p.includes('secret-name') || p.includes('deep')),
    `nothing outside is listed: ${seen.join(', ')}`,
  );
  t.deepEqual(errors, [{ path: 'a/b', code: 'E_PATH_CHANGED' }]);
  t.true(seen.includes('a/z.txt'), 'the rest of the walk goes on');
});

test("a scope's walk opens its folder from the location's root: a folder above it swapped for a symlink is never followed", (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'b', 'mine.txt'), 'mine');
  mkdirSync(join(base, 'outside', 'b'), { recursive: true });
  writeFileSync(join(base, 'outside', 'b', 'secret-name.txt'), 'x');
  const rules = { skipHidden: false, skipNames: [] };
  const names = (opts: { below?: string }): string[] =>
    [...walkSync(join(root, 'a', 'b'), rules, opts)].flatMap((b) => b.entries.map((e) => e.relPath));
  t.deepEqual(names({ below: root }), ['mine.txt']);
  // `a` is swapped after the scope was found to be a folder.
  renameSync(join(root, 'a'), join(base, 'a.moved'));
  symlinkSync(join(base, 'outside'), join(root, 'a'));
  t.deepEqual(names({}), ['secret-name.txt'], 'by path, the scope leads outside');
  t.throws(() => names({ below: root }), { code: 'E_PATH_CHANGED' } as never);
});

test("a folder swapped for a symlink between its listing and its entries' lstat: no attribute is read where it points", async (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a'), { recursive: true });
  writeFileSync(join(root, 'a', 'f.txt'), 'x');
  writeFileSync(join(root, 'top.txt'), 'top');
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'f.txt'), 'a much longer file where the link points');
  const rules = { skipHidden: false, skipNames: [] };
  const swap = (rel: string): void => {
    // Once `a` is listed, and before its entries are lstat'ed, `a` becomes a link to a folder outside.
    if (rel !== 'a') return;
    renameSync(join(root, 'a'), join(base, 'a.moved'));
    symlinkSync(join(base, 'outside'), join(root, 'a'));
  };
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  // On this thread, and with the lstat on a pool thread (as a walk before its own thread is ready).
  const runs: Array<() => Promise<{ entries: WalkEntry[]; errors: WalkError[] }>> = [
    async () => collect(walkSync(root, rules, { onDirListed: swap, batchSize: 1000 })),
    async () => {
      const entries: WalkEntry[] = [];
      const errors: WalkError[] = [];
      for await (const b of walk(root, rules, {
        onDirListed: swap,
        batchSize: 1,
        stat: (paths, below) => pool.lstat(paths, below),
      })) {
        entries.push(...b.entries);
        errors.push(...b.errors);
      }
      return { entries, errors };
    },
  ];
  for (const run of runs) {
    const { entries, errors } = await run();
    const f = entries.find((e) => e.relPath === 'a/f.txt');
    t.not(f?.size, 40, 'the size of the file outside is never read');
    t.true(
      errors.some((e) => e.path === 'a/f.txt' && e.code === 'E_PATH_CHANGED'),
      JSON.stringify(errors),
    );
    t.true(entries.some((e) => e.relPath === 'top.txt'));
    // Put `a` back for the next run.
    rmSync(join(root, 'a'));
    renameSync(join(base, 'a.moved'), join(root, 'a'));
  }
});

function collect(batches: Iterable<{ entries: WalkEntry[]; errors: WalkError[] }>): {
  entries: WalkEntry[];
  errors: WalkError[];
} {
  const entries: WalkEntry[] = [];
  const errors: WalkError[] = [];
  for (const b of batches) {
    entries.push(...b.entries);
    errors.push(...b.errors);
  }
  return { entries, errors };
}

test("a scope's walk below a location at / or given with a trailing slash finds its folder (its path from the root has no leading slash)", (t) => {
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'b', 'mine.txt'), 'mine');
  const rules = { skipHidden: false, skipNames: [] };
  const names = (scope: string, below: string): string[] =>
    [...walkSync(scope, rules, { below })].flatMap((b) => b.entries.map((e) => e.relPath));
  // A location at /: its scopes are joined as //tmp/... (fsPathOf of '/').
  t.deepEqual(names(fsPathOf('/', join(root, 'a').slice(1)) as string, '/'), ['b', 'b/mine.txt']);
  t.deepEqual(names(join(root, 'a'), `${root}/`), ['b', 'b/mine.txt']);
});

test("a location's folder that is not the one its job began with is neither walked, lstat'ed nor hashed", async (t) => {
  if (!beneath()) return void t.pass('no openat2 here: the root is opened by path');
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(root);
  writeFileSync(join(root, 'f.txt'), 'inside');
  const pin = rootPin(root)!;
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const hashed = async (): Promise<string[]> =>
    (await pool.hashKeys(root, [toKey('f.txt')], true, pin)).results.map((r) =>
      'error' in r ? r.error.code : 'hashed',
    );
  const lstatted = async (): Promise<number[]> => [
    ...(await pool.lstat([join(root, 'f.txt')], { top: root, rels: ['f.txt'], pin })).flags,
  ];
  t.deepEqual(await hashed(), ['hashed']);
  t.deepEqual(await lstatted(), [2], 'a regular file');
  t.is([...walkSync(root, {}, { pin })].flatMap((b) => b.entries).length, 1);
  let onThread = 0;
  for await (const part of pool.walk({ root, rules: {}, pin })) onThread += part.rels.length;
  t.is(onThread, 1, 'the same walk on a pool thread, before the swap');

  // Another folder, with the same name and file, at its path now (a symlink's target, here).
  renameSync(root, join(base, 'loc.moved'));
  mkdirSync(join(base, 'other'));
  writeFileSync(join(base, 'other', 'f.txt'), 'OTHER!');
  symlinkSync(join(base, 'other'), root);
  t.deepEqual(await hashed(), ['E_LOCATION_CHANGED']);
  t.deepEqual(await lstatted(), [0], 'failed, not the attributes of the file swapped in');
  t.throws(() => [...walkSync(root, {}, { pin })], { code: 'E_LOCATION_CHANGED' } as never);
  // And a whole walk on a pool thread (the pin crosses to it in the request).
  await t.throwsAsync(
    async () => {
      for await (const part of pool.walk({ root, rules: {}, pin })) void part;
    },
    { code: 'E_LOCATION_CHANGED' } as never,
  );
  // Without a pin the walk takes the folder it finds: a new job's.
  t.is([...walkSync(root, {}, {})].flatMap((b) => b.entries).length, 1);
});

test('the .gitignore files above a scope are read below the root: a folder above it swapped for a symlink lends no rules', (t) => {
  const b = beneath();
  if (!b) return void t.pass('no openat2 here: read by path');
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', '.gitignore'), 'private/\n');
  // The folder swapped in says the scope itself is ignored (a walk of it would then drop what the index holds).
  mkdirSync(join(base, 'outside', 'a', 'b'), { recursive: true });
  writeFileSync(join(base, 'outside', 'a', '.gitignore'), 'b/\n');
  const below = (): ReturnType<typeof gitignoreAbove> => {
    const rootFd = openRoot(root);
    try {
      return gitignoreAbove(root, 'a/b', (rel, flags) => b.open(rootFd, rel, flags));
    } finally {
      closeRoot(rootFd);
    }
  };
  t.deepEqual(below(), { ignored: false, above: [{ prefix: 'b/', text: 'private/\n' }] });
  renameSync(join(root, 'a'), join(base, 'a.moved'));
  symlinkSync(join(base, 'outside', 'a'), join(root, 'a'));
  t.true(gitignoreAbove(root, 'a/b').ignored, 'by path, the swap leads to the other rules');
  t.deepEqual(below(), { ignored: false, above: [] }, 'below the root, none are read');
});

test("a walk's errors name folders as the user knows them, never the descriptor they were read through", (t) => {
  if (!beneath()?.openFolder) return void t.pass('folders are listed by path here');
  const base = tempDir(t, 'sd-beneath-');
  const root = join(base, 'loc');
  mkdirSync(join(root, 'a'), { recursive: true });
  execFileSync('mkfifo', [join(root, 'a', '.gitignore')]);
  const errors = [...walkSync(root, { gitignore: true }, {})].flatMap((b) => b.errors);
  t.deepEqual(
    errors.map((e) => e.path),
    ['a/.gitignore'],
  );
  t.notRegex(errors[0]!.message, /\/proc\/self\/fd/);
  t.true(errors[0]!.message.includes(join(root, 'a', '.gitignore')), errors[0]!.message);

  // A folder that cannot be listed (EACCES: tried as another user, where this runs as root).
  if (process.getuid?.() !== 0) return;
  mkdirSync(join(root, 'locked'), { mode: 0o311 });
  chmodSync(join(root, 'locked'), 0o311);
  chmodSync(base, 0o755);
  const script = `const { walkSync } = await import(${JSON.stringify(new URL('../../src/jobs/walk.js', import.meta.url).href)});
    const errors = [...walkSync(${JSON.stringify(root)}, {}, {})].flatMap((b) => b.errors);
    console.log(JSON.stringify(errors));`;
  let out: string;
  try {
    out = execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
  } catch (e) {
    t.log(`could not run as another user here (${(e as Error).message.split('\n')[0]}): the listing case is not tried`);
    return;
  }
  const locked = (JSON.parse(out) as { path: string; code: string; message: string }[]).find(
    (e) => e.path === 'locked',
  );
  t.is(locked?.code, 'EACCES', out);
  t.notRegex(locked!.message, /\/proc\/self\/fd/);
  t.regex(locked!.message, /'(.*\/)?locked'/);
});
