// A hashing thread's batch read in one C call (io-batch.ts, native/io-batch.c): every file, odd ones
// included, gets the same content id, size, kind and attributes, or the same error, as the thread's
// file-by-file way, and a folder swapped for a symlink is no more followed than before. The ids the
// C library hashes itself (native/blake3-lanes.h, 16 or 8 lanes) are the JavaScript hasher's.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHashPool, type HashResult } from '../../src/jobs/hash-pool.js';
import { contentIdOf, SMALL_FILE_LIMIT } from '../../src/jobs/content-id.js';
import { batchReads, hashWidth, IO_BATCH_LIBRARY } from '../../src/jobs/io-batch.js';
import { beneath } from '../../src/jobs/beneath.js';
import { encodeName } from '../../src/jobs/names.js';
import { SEP, toKey } from '../../src/projections/entries.js';
import type { LstatColumns } from '../../src/jobs/hash-wire.js';
import { tempDir } from './helpers.js';

test('the batch read is built and used wherever openat2 is, unless the build said why not', (t) => {
  if (!beneath()) {
    t.log('no openat2 here: the hashing threads read file by file');
    return void t.pass();
  }
  // scripts/build-native.js leaves its reason beside the library when it cannot build it.
  const skipped = IO_BATCH_LIBRARY.replace(/\.so$/, '.skipped');
  if (existsSync(skipped)) {
    t.log(`not built: ${readFileSync(skipped, 'utf8').trim()}`);
    return void t.false(existsSync(IO_BATCH_LIBRARY), 'no stale library is left beside the reason');
  }
  t.truthy(batchReads(), `${IO_BATCH_LIBRARY} is built and loads`);
});

/**
 * One pool's hashKeys, made with SD_IO_BATCH as given (a thread reads it as it starts), and with
 * SD_IO_HASH=off the batch's files hashed in JavaScript rather than in C.
 */
async function hashWith(
  batch: 'on' | 'off',
  root: string,
  keys: string[],
  hashInC = true,
): Promise<{ results: HashResult[]; stats?: LstatColumns }> {
  const before = { SD_IO_BATCH: process.env.SD_IO_BATCH, SD_IO_HASH: process.env.SD_IO_HASH };
  process.env.SD_IO_BATCH = batch;
  process.env.SD_IO_HASH = hashInC ? 'on' : 'off';
  const pool = createHashPool({ threads: 1 });
  for (const [k, v] of Object.entries(before))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    return await pool.hashKeys(root, keys, true);
  } finally {
    await pool.close();
  }
}

/** What a user could see of a result: its id, size and kind, or its error's code. */
const shown = (r: HashResult): string =>
  'error' in r ? `error ${r.error.code}` : `${r.contentId} ${r.size} ${r.kind}`;

/** Each file's attributes, as columns hold them. */
const attributes = (s: LstatColumns | undefined, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${s!.flags[i]} ${s!.size[i]} ${s!.mtimeMs[i]} ${s!.ino[i]} ${s!.dev[i]}`);

test('odd and hostile files: the same ids, sizes, kinds, attributes and errors as file by file', async (t) => {
  if (!batchReads()) return void t.pass('no batch read here (see the test above)');
  const base = tempDir(t, 'sd-io-batch-');
  const root = join(base, 'loc');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'd'), { recursive: true });
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  const files: Record<string, Buffer | number> = {
    'empty.txt': Buffer.alloc(0),
    'one.txt': Buffer.from('x'),
    'at-limit.bin': randomBytes(SMALL_FILE_LIMIT),
    'past-limit.bin': randomBytes(SMALL_FILE_LIMIT + 1),
    'large.mp4': randomBytes(1 << 20),
    'photo.png': Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(500)]),
    'sub/deep.md': Buffer.from('# deep'),
    'd/f.txt': Buffer.from('inside!'),
  };
  for (const [rel, bytes] of Object.entries(files)) writeFileSync(join(root, rel), bytes as Buffer);
  // Sparse, past 4 GiB: the id's u64le size prefix needs its high word.
  writeFileSync(join(root, 'huge.iso'), 'start');
  truncateSync(join(root, 'huge.iso'), 5 * 1024 ** 3 + 17);
  const latin1 = Buffer.from('caf\xe9.txt', 'latin1');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/`), latin1]), 'not utf-8');
  execFileSync('mkfifo', [join(root, 'pipe')]);
  writeFileSync(join(outside, 'f.txt'), 'SECRET!');
  writeFileSync(join(outside, 'target.txt'), 'outside target');
  symlinkSync(join(outside, 'target.txt'), join(root, 'link.txt'));
  // A folder swapped for a symlink after the walk: what is below it is refused, never read.
  renameSync(join(root, 'd'), join(root, 'd.real'));
  symlinkSync(outside, join(root, 'd'));

  const keys = [
    ...Object.keys(files).map(toKey),
    toKey('huge.iso'),
    encodeName(latin1),
    toKey('pipe'),
    toKey('link.txt'),
    toKey('gone.txt'),
    toKey('sub'),
    `sub${SEP}..${SEP}one.txt`,
  ];
  const on = await hashWith('on', root, keys);
  const off = await hashWith('off', root, keys);
  t.deepEqual(on.results.map(shown), off.results.map(shown));
  t.deepEqual(attributes(on.stats, keys.length), attributes(off.stats, keys.length));
  t.deepEqual(
    on.stats!.errors.map(([i, code]) => `${i} ${code}`),
    off.stats!.errors.map(([i, code]) => `${i} ${code}`),
  );

  // And the ids are the ones a file's path gives, the hostile ones refused as before.
  const byName = new Map(keys.map((k, i) => [k, on.results[i]!]));
  for (const rel of [...Object.keys(files).filter((r) => r !== 'd/f.txt'), 'huge.iso'])
    t.is(shown(byName.get(toKey(rel))!).split(' ')[0], await contentIdOf(join(root, rel)), rel);
  t.is(shown(byName.get(toKey('d/f.txt'))!), 'error E_PATH_CHANGED', 'below the swapped folder');
  t.is(shown(byName.get(toKey('pipe'))!), 'error E_NOT_A_FILE');
  t.is(shown(byName.get(toKey('link.txt'))!), 'error ELOOP', 'a symlink is never read through');
  t.is(shown(byName.get(toKey('gone.txt'))!), 'error ENOENT');
  t.is(shown(byName.get(`sub${SEP}..${SEP}one.txt`)!), 'error E_BAD_PATH');
  t.regex(shown(byName.get(toKey('photo.png'))!), / image$/);
  t.is((byName.get(toKey('huge.iso')) as { size: number }).size, 5 * 1024 ** 3 + 17);
});

test('a batch larger than one read holds: every file of it, in order', async (t) => {
  if (!batchReads()) return void t.pass('no batch read here (see the first test)');
  const root = join(tempDir(t, 'sd-io-batch-'), 'loc');
  mkdirSync(root);
  // 2 MiB per read holds about twenty bodies of 100 KiB: these take several, small ones between.
  const rels: string[] = [];
  for (let i = 0; i < 90; i++) {
    const rel = `f${String(i).padStart(3, '0')}.bin`;
    writeFileSync(join(root, rel), randomBytes(i % 3 === 0 ? 10 : i % 3 === 1 ? SMALL_FILE_LIMIT : 300_000));
    rels.push(rel);
  }
  const got = await hashWith('on', root, rels.map(toKey));
  const ids = got.results.map((r) => shown(r).split(' ')[0]);
  t.deepEqual(ids, await Promise.all(rels.map((rel) => contentIdOf(join(root, rel)))));
});

test('a file past 2^53 bytes (a size no JavaScript number holds exactly): the same as file by file', async (t) => {
  if (!batchReads()) return void t.pass('no batch read here (see the first test)');
  // tmpfs, xfs and btrfs allow such a file (sparse); ext4 stops at 16 TiB.
  const base = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/sd-io-batch-') : tempDir(t, 'sd-io-batch-');
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  writeFileSync(join(base, 'beyond.bin'), 'start');
  try {
    execFileSync('truncate', ['-s', String(2n ** 53n + 2n ** 20n + 5n), join(base, 'beyond.bin')], { stdio: 'ignore' });
  } catch {
    t.log('no file past 2^53 bytes can be made here: not tried');
    return void t.pass();
  }
  const keys = [toKey('beyond.bin')];
  const on = await hashWith('on', base, keys);
  const off = await hashWith('off', base, keys);
  t.deepEqual(on.results.map(shown), off.results.map(shown));
  t.deepEqual(attributes(on.stats, 1), attributes(off.stats, 1));
});

/** Whether this CPU has the instructions a kernel of native/blake3-lanes.h needs (from /proc/cpuinfo). */
function cpuHas(flag: string): boolean {
  try {
    return new RegExp(`^flags\\s*:.*\\b${flag}\\b`, 'm').test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

test("ids hashed in C, 16 and 8 lanes at a time, are the JavaScript hasher's: every length around a block, a chunk and a tree level, sampled files, and mixed batches", async (t) => {
  if (!batchReads()) return void t.pass('no batch read here (see the first test)');
  const root = tempDir(t, 'sd-io-hash-');
  // The id hashes u64le(size) || body: 8 bytes more than the file. Lengths around 64 (a block),
  // 1,024 (a chunk), 2,048 and 4,096 (tree levels), and the sampled files' limit.
  const around = [64, 1024, 2048, 3072, 4096, 8192, 16384, 65536].flatMap((n) => [n - 9, n - 8, n - 7]);
  const sizes = [
    0,
    1,
    2,
    63,
    ...around,
    SMALL_FILE_LIMIT - 1,
    SMALL_FILE_LIMIT,
    SMALL_FILE_LIMIT + 1,
    300_000,
    1_500_000,
  ];
  // Then a batch of mixed sizes, so that lanes of one register hold chunks of different files.
  let seed = 7;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 300; i++) sizes.push(next() % (i % 10 === 0 ? 200_000 : 12_000));
  const keys = sizes.map((size, i) => {
    writeFileSync(join(root, `f${i}`), randomBytes(size));
    return `f${i}`;
  });
  const inJs = (await hashWith('on', root, keys, false)).results.map(shown);
  t.is(inJs.filter((r) => r.startsWith('error')).length, 0);
  // A compiler that could not build the kernels leaves its reason beside the library (build-native.js).
  const noKernels = IO_BATCH_LIBRARY.replace(/io-batch\.so$/, 'blake3-kernels.skipped');
  const built = !existsSync(noKernels);
  if (!built) t.log(`kernels not built: ${readFileSync(noKernels, 'utf8').trim()}`);
  const best = !built ? 0 : cpuHas('avx512f') ? 16 : cpuHas('avx2') ? 8 : 0;
  // The thread loaded the same library this one does: the kernel it ran is the one said here.
  t.is(process.env.SD_BLAKE3 === 'wasm' ? best : hashWidth(), best, 'the widest kernel this CPU has is the one in use');
  t.deepEqual((await hashWith('on', root, keys)).results.map(shown), inJs, 'the kernel this CPU runs');
  // Each kernel in a process of its own: the library reads SD_B3_WIDTH as it loads.
  const child = fileURLToPath(new URL('../fixtures-child/hash-keys.js', import.meta.url));
  for (const [width, flag] of [
    [16, 'avx512f'],
    [8, 'avx2'],
  ] as const) {
    if (!built) continue; // said above
    if (!cpuHas(flag)) {
      t.log(`no ${flag} on this CPU: the ${width}-lane kernel is not run (ids are hashed in JavaScript there)`);
      continue;
    }
    const out = execFileSync(process.execPath, [child, root], {
      input: JSON.stringify(keys),
      env: { ...process.env, SD_B3_WIDTH: String(width), SD_IO_HASH: 'on', SD_IO_BATCH: 'on', SD_BLAKE3: 'native' },
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    t.is(out[0], `lanes ${width}`, `the ${width}-lane kernel ran`);
    t.deepEqual(out.slice(1), inJs, `${width} lanes`);
  }
});
