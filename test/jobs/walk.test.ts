import test from 'ava';
import { lstatSync, readdirSync, rmSync, writeFileSync, mkdirSync, closeSync, openSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  countEntries,
  walk,
  walkAll,
  walkSync,
  DEFAULT_SKIP_NAMES,
  type WalkBatch,
  type WalkEntry,
} from '../../src/jobs/walk.js';
import { createHashPool } from '../../src/jobs/hash-pool.js';
import { gitignoreAbove } from '../../src/jobs/gitignore.js';
import { encodeName, fsPathOf, decodeName } from '../../src/jobs/names.js';
import { smallTree, tempDir } from './helpers.js';

interface Ref {
  isDir: boolean;
  isSymlink: boolean;
  size: number;
  ino: bigint;
}

// Independent reference: plain recursive readdir(buffer) + lstat, following nothing.
function reference(root: Buffer, rel: string, out: Map<string, Ref>): void {
  for (const raw of readdirSync(root, { encoding: 'buffer' })) {
    const p = Buffer.concat([root, Buffer.from('/'), raw]);
    const r = rel === '' ? encodeName(raw) : `${rel}/${encodeName(raw)}`;
    const st = lstatSync(p, { bigint: true });
    out.set(r, {
      isDir: st.isDirectory(),
      isSymlink: st.isSymbolicLink(),
      size: st.isDirectory() ? 0 : Number(st.size),
      ino: st.ino,
    });
    if (st.isDirectory()) {
      try {
        reference(p, r, out);
      } catch {
        /* unreadable: the walker must report it */
      }
    }
  }
}

const byPath = (es: WalkEntry[]): Map<string, WalkEntry> => new Map(es.map((e) => [e.relPath, e]));

test('walk matches the filesystem entry by entry (every file, folder, size, inode)', async (t) => {
  const m = smallTree(t);
  const { entries, errors } = await walkAll(m.root, { skipHidden: false, skipNames: [] }, { batchSize: 64 });
  const ref = new Map<string, Ref>();
  reference(Buffer.from(m.root), '', ref);
  t.is(entries.length, ref.size);
  t.is(new Set(entries.map((e) => e.relPath)).size, entries.length, 'no duplicates');
  for (const e of entries) {
    const r = ref.get(e.relPath);
    if (!r) {
      t.fail(`unexpected ${e.relPath}`);
      continue;
    }
    t.deepEqual({ isDir: e.isDir, isSymlink: e.isSymlink, size: e.size, ino: e.inode }, r, e.relPath);
  }
  const files = entries.filter((e) => !e.isDir && !e.isSymlink).length;
  const dirs = entries.filter((e) => e.isDir).length;
  t.is(files, m.files);
  t.is(dirs, m.folders);
  if (m.unreadableEnforced) {
    t.deepEqual(
      errors.map((e) => [e.path, e.code]),
      [['locked', 'EACCES']],
    );
  } else {
    // Running as root: chmod 000 does not stop root, so the folder is listed and nothing fails.
    t.log('running as root: chmod 000 folder is readable; asserting it was walked');
    t.deepEqual(errors, []);
    t.true(byPath(entries).has('locked/secret.txt'));
  }
});

test('symlinks are recorded, never followed, so a loop terminates', async (t) => {
  const m = smallTree(t, { files: 20, folders: 3 });
  const { entries } = await walkAll(m.root);
  const links = entries.filter((e) => e.relPath.startsWith('links/'));
  t.deepEqual(
    links.map((e) => [e.relPath, e.isSymlink, e.isDir]),
    [
      ['links/dangling', true, false],
      ['links/loop', true, false],
      ['links/up', true, false],
    ],
  );
});

test('a file vanishing between listing and lstat is an error value, not a failure', async (t) => {
  const m = smallTree(t, { files: 50, folders: 0, extras: false, sparseFiles: 0 });
  let victim = '';
  const { entries, errors } = await walkAll(
    m.root,
    {},
    {
      onDirListed: (rel, names) => {
        if (rel === '') {
          victim = names[3]!;
          rmSync(join(m.root, victim));
        }
      },
    },
  );
  t.deepEqual(
    errors.map((e) => [e.path, e.code]),
    [[victim, 'ENOENT']],
  );
  t.is(entries.length, 49);
});

test('a path past PATH_MAX is reported (ENAMETOOLONG) and the walk goes on', async (t) => {
  const dir = tempDir(t);
  const seg = 'x'.repeat(250);
  // Built with relative mkdirs from inside the chain, since absolute paths stop at PATH_MAX.
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    for (let i = 0; i < 18; i++) {
      mkdirSync(seg);
      process.chdir(seg);
    }
    closeSync(openSync('deep.txt', 'w'));
  } finally {
    process.chdir(cwd);
  }
  writeFileSync(join(dir, 'shallow.txt'), 'ok');
  const { entries, errors } = await walkAll(dir);
  t.true(entries.some((e) => e.relPath === 'shallow.txt'));
  t.true(errors.length >= 1);
  t.true(
    errors.every((e) => e.code === 'ENAMETOOLONG'),
    JSON.stringify(errors.map((e) => e.code)),
  );
});

test('a 4,000-byte path is walked', async (t) => {
  const dir = tempDir(t);
  const segs = Array.from({ length: 15 }, (_, i) => `${i}`.padEnd(250, 'p'));
  const name = 'f'.repeat(4000 - 15 * 251);
  mkdirSync(join(dir, ...segs), { recursive: true });
  writeFileSync(join(dir, ...segs, name), 'deep');
  const rel = [...segs, name].join('/');
  t.is(Buffer.byteLength(rel), 4000);
  const { entries, errors } = await walkAll(dir);
  t.deepEqual(errors, []);
  const e = byPath(entries).get(rel);
  t.is(e?.size, 4);
});

test('non-UTF-8 names are preserved and reversible to the exact bytes', async (t) => {
  const m = smallTree(t, { files: 10, folders: 2 });
  const { entries } = byPathAll(await walkAll(m.root));
  const badFile = entries.get('\uFFFDf%FFo');
  t.truthy(badFile);
  t.deepEqual(decodeName(badFile!.name), Buffer.from([0x66, 0xff, 0x6f]));
  t.deepEqual(fsPathOf(m.root, badFile!.relPath), m.nonUtf8[0]);
  const inside = entries.get('\uFFFDbad-%C3(/inside.txt');
  t.is(inside?.size, 6);
  t.deepEqual(fsPathOf(m.root, inside!.relPath), m.nonUtf8[2]);
  // The valid name that looks escaped is kept apart and maps back to its own UTF-8 bytes.
  const lookalike = entries.get('\uFFFD\uFFFDf%25FFo');
  t.truthy(lookalike);
  t.deepEqual(fsPathOf(m.root, lookalike!.relPath), Buffer.from(join(m.root, '\uFFFDf%FFo')));
  t.is(lstatSync(fsPathOf(m.root, lookalike!.relPath)).size, 3);
});

function byPathAll(r: { entries: WalkEntry[] }): { entries: Map<string, WalkEntry> } {
  return { entries: byPath(r.entries) };
}

test('default rules skip hidden files and known junk; rules are configurable', async (t) => {
  const m = smallTree(t, { files: 10, folders: 2 });
  const def = byPath((await walkAll(m.root)).entries);
  for (const p of [
    '.hidden-file',
    '.git',
    '.git/config',
    'node_modules',
    'node_modules/pkg/index.js',
    '.DS_Store',
    'ignored-demo/.gitignore',
  ]) {
    t.false(def.has(p), p);
  }
  t.true(DEFAULT_SKIP_NAMES.includes('node_modules'));
  const shown = byPath((await walkAll(m.root, { skipHidden: false, skipNames: ['node_modules'] })).entries);
  t.true(shown.has('.hidden-file'));
  t.true(shown.has('.git/config'));
  t.false(shown.has('node_modules'));
  const custom = byPath((await walkAll(m.root, { skipNames: ['links', 'large'] })).entries);
  t.false(custom.has('links'));
  t.false(custom.has('large/sparse-0.bin'));
  t.true(custom.has('node_modules/pkg/index.js'), 'custom skipNames replace the defaults');
});

test('.gitignore is honoured per folder, with directory patterns and negation', async (t) => {
  const m = smallTree(t, { files: 10, folders: 2 });
  const off = byPath((await walkAll(m.root)).entries);
  const on = byPath((await walkAll(m.root, { gitignore: true })).entries);
  for (const p of [
    'ignored-demo/a.log',
    'ignored-demo/build',
    'ignored-demo/build/out.js',
    'ignored-demo/src/debug.log',
  ]) {
    t.true(off.has(p), `present without gitignore: ${p}`);
    t.false(on.has(p), `ignored: ${p}`);
  }
  for (const p of ['ignored-demo/keep.log', 'ignored-demo/src/main.js', 'ignored-demo/src'])
    t.true(on.has(p), `kept: ${p}`);
  t.is(on.size, off.size - 4);
});

test('walking with lstat on the pool workers gives the same batches, errors and cursors as on one thread', async (t) => {
  const m = smallTree(t);
  const rules = { skipHidden: false, skipNames: [] };
  // A file that vanishes between its folder's listing and its lstat, in both runs.
  let victim = '';
  const onDirListed = (rel: string, names: readonly string[]): void => {
    if (rel !== '') return;
    victim = names.find((n) => !lstatSync(join(m.root, n)).isDirectory())!;
    rmSync(join(m.root, victim));
  };
  const here = [...walkSync(m.root, rules, { batchSize: 16, onDirListed })];
  writeFileSync(join(m.root, victim), 'back');
  const pool = createHashPool({ threads: 2 });
  t.teardown(() => pool.close());
  let calls = 0;
  const pooled: WalkBatch[] = [];
  for await (const b of walk(m.root, rules, { batchSize: 16, onDirListed, stat: (p) => (calls++, pool.lstat(p)) }))
    pooled.push(b);
  t.true(calls >= here.length - 1, `${calls} batches went to the workers`);
  t.deepEqual(
    here.flatMap((b) => b.errors.map((e) => [e.path, e.code])),
    [[victim, 'ENOENT']],
  );
  t.deepEqual(pooled, here);
});

test('a whole walk on one pool thread gives the same batches, errors and cursors as on one thread, resumes, refuses as it does, and frees its thread when stopped', async (t) => {
  const m = smallTree(t);
  // The odd names and kinds: a name that is not UTF-8, a link to its own folder, a named pipe,
  // a hidden folder, and a skipped one.
  const odd = join(m.root, 'odd');
  mkdirSync(odd);
  writeFileSync(Buffer.concat([Buffer.from(`${odd}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'x');
  symlinkSync('.', join(odd, 'loop'));
  execFileSync('mkfifo', [join(odd, 'pipe')]);
  mkdirSync(join(odd, '.hidden'));
  writeFileSync(join(odd, '.hidden', 'h.txt'), 'h');
  mkdirSync(join(odd, 'node_modules'));
  writeFileSync(join(odd, 'node_modules', 'n.js'), 'n');
  const pool = createHashPool({ threads: 2 });
  t.teardown(() => pool.close());
  for (const rules of [{}, { skipHidden: false, skipNames: [] }]) {
    const here = [...walkSync(m.root, rules, { batchSize: 16 })];
    const remote: WalkBatch[] = [];
    for await (const b of walk(m.root, rules, { batchSize: 16, remote: (r) => pool.walk(r) })) remote.push(b);
    t.true(remote.length > 10, `${remote.length} batches`);
    t.deepEqual(remote, here);
    t.true(
      here.flatMap((b) => b.entries).some((e) => e.special === 'fifo'),
      'the pipe is recorded',
    );
    // A walk begun here before the threads started moves to one of them once they have.
    let asked = 0;
    let onIt = 0;
    const moved: WalkBatch[] = [];
    for await (const b of walk(m.root, rules, {
      batchSize: 16,
      stat: (p) => pool.lstat(p),
      statReady: () => ++asked > 3,
      remote: (r) => (onIt++, pool.walk(r)),
    }))
      moved.push(b);
    t.is(onIt, 1, 'the rest of the walk went to a thread');
    t.deepEqual(moved, here);
    // Resume after a cursor in the middle of a folder.
    const cursor = here[Math.floor(here.length / 2)]!.cursor!;
    const rest: WalkBatch[] = [];
    for await (const b of walk(m.root, rules, { batchSize: 16, startAfter: cursor, remote: (r) => pool.walk(r) }))
      rest.push(b);
    t.deepEqual(
      rest.flatMap((b) => b.entries),
      [...walkSync(m.root, rules, { batchSize: 16, startAfter: cursor })].flatMap((b) => b.entries),
    );
  }
  // The planner's refusals keep their codes across the thread.
  const missing = walk(join(m.root, 'no-such-folder'), {}, { remote: (r) => pool.walk(r) });
  await t.throwsAsync(() => missing.next(), { code: 'E_LOCATION_UNREADABLE' });
  const file = walk(join(m.root, 'odd', 'pipe'), {}, { remote: (r) => pool.walk(r) });
  await t.throwsAsync(() => file.next(), { code: 'E_LOCATION_NOT_DIR' });
  // A consumer that stops after one batch (a cancelled job) frees the thread: with both threads
  // taken by stopped walks, hashing still gets done.
  for (let i = 0; i < 2; i++)
    for await (const _ of walk(m.root, {}, { batchSize: 4, remote: (r) => pool.walk(r) })) break;
  const some = here3(m.root);
  const hashed = await pool.hash(some);
  t.is(hashed.filter((h) => 'contentId' in h).length, some.length);
});

test('a walk on a pool thread leaves that thread free to hash while its consumer is busy, and an unreadable file fails only itself', async (t) => {
  const m = smallTree(t);
  // One thread: before, a walk held it until the walk ended, and a hash asked for meanwhile
  // (a first index hashes each batch before it asks for the next) waited for the whole walk.
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  const batches: WalkBatch[] = [];
  const it = walk(m.root, {}, { batchSize: 4, remote: (r) => pool.walk(r) })[Symbol.asyncIterator]();
  const first = await it.next();
  t.false(first.done);
  batches.push(first.value as WalkBatch);
  const some = here3(m.root);
  const hashed = await Promise.race([
    pool.hash(some),
    new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 20_000).unref()),
  ]);
  t.not(hashed, 'stuck', 'the hash ran on the walking thread');
  if (hashed === 'stuck') return;
  t.is(hashed.filter((h) => 'contentId' in h).length, some.length);
  // ...and the walk then goes on from where it was, to the same end as on one thread.
  for (let r = await it.next(); !r.done; r = await it.next()) batches.push(r.value);
  t.deepEqual(batches, [...walkSync(m.root, {}, { batchSize: 4 })]);
  // A hash of a file that cannot be read on the walking thread is a value, not a failure of the walk.
  const again = walk(m.root, {}, { batchSize: 4, remote: (r) => pool.walk(r) })[Symbol.asyncIterator]();
  await again.next();
  const [missing] = await pool.hash([join(m.root, 'no-such-file')]);
  t.true(missing !== undefined && 'error' in missing);
  let n = 1;
  for (let r = await again.next(); !r.done; r = await again.next()) n++;
  t.is(n, batches.length);
});

function here3(root: string): string[] {
  const files = [...walkSync(root)].flatMap((b) => b.entries).filter((e) => !e.isDir && !e.isSymlink && !e.special);
  return files.slice(0, 3).map((e) => fsPathOf(root, e.relPath) as string);
}

test("a preview's count agrees with the walk, from listings alone, and says when it stopped early", (t) => {
  const m = smallTree(t);
  const all = [...walkSync(m.root)].flatMap((b) => b.entries);
  const dirs = all.filter((e) => e.isDir).length;
  const n = countEntries(m.root, {}, [], 10_000, 1_000_000);
  t.deepEqual(n, { files: all.length - dirs, dirs, partial: false });
  const some = countEntries(m.root, {}, [], 10_000, 100);
  t.true(some.partial);
  t.is(some.files + some.dirs, 100);
});

test('a .gitignore that is a named pipe or a symlink is refused with an error, and the walk goes on', async (t) => {
  // Read as a file, a FIFO named .gitignore held the walking thread for good (the daemon's main
  // thread, for a scoped rescan). Git does not follow a symlinked .gitignore either.
  const root = join(tempDir(t), 'loc');
  mkdirSync(join(root, 'piped'), { recursive: true });
  mkdirSync(join(root, 'linked'));
  writeFileSync(join(root, 'piped/a.o'), 'x');
  writeFileSync(join(root, 'linked/b.o'), 'x');
  writeFileSync(join(root, 'rules'), '*.o\n');
  execFileSync('mkfifo', [join(root, 'piped/.gitignore')]);
  symlinkSync(join(root, 'rules'), join(root, 'linked/.gitignore'));
  const { entries, errors } = await walkAll(root, { gitignore: true });
  t.deepEqual(entries.map((e) => e.relPath).sort(), ['linked', 'linked/b.o', 'piped', 'piped/a.o', 'rules']);
  t.deepEqual(errors.map((e) => e.path).sort(), ['linked/.gitignore', 'piped/.gitignore']);
  const above = gitignoreAbove(root, 'piped/sub');
  t.deepEqual(above, { ignored: false, above: [] });
});
