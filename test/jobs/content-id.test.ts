import test from 'ava';
import { writeFileSync, readFileSync, openSync, readSync, writeSync, closeSync, lstatSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { blake3 } from 'hash-wasm';
import {
  contentIdOf,
  createContentHasher,
  fullBlake3,
  sampleRanges,
  SMALL_FILE_LIMIT,
} from '../../src/jobs/content-id.js';
import { execFileSync } from 'node:child_process';
import { blake3Backend } from '../../src/jobs/blake3.js';
import { fileIO, nodeFileIO } from '../../src/jobs/file-io.js';
import type { RawStat } from '../../src/jobs/statx.js';
import { tempDir } from './helpers.js';

function patch(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  const old = readFileSync(path)[offset]!;
  writeSync(fd, Buffer.from([old ^ 0xff]), 0, 1, offset);
  closeSync(fd);
}

test('same content under different paths and names gets the same id', async (t) => {
  const dir = tempDir(t);
  const data = randomBytes(5000);
  writeFileSync(join(dir, 'a.jpg'), data);
  writeFileSync(join(dir, 'copy of a.txt'), data);
  t.is(await contentIdOf(join(dir, 'a.jpg')), await contentIdOf(join(dir, 'copy of a.txt')));
});

test('different content gets different ids, even one byte apart', async (t) => {
  const dir = tempDir(t);
  const data = randomBytes(3000);
  writeFileSync(join(dir, 'a'), data);
  data[1500] = data[1500]! ^ 1;
  writeFileSync(join(dir, 'b'), data);
  const [a, b] = [await contentIdOf(join(dir, 'a')), await contentIdOf(join(dir, 'b'))];
  t.regex(a, /^[0-9a-f]{32}$/);
  t.not(a, b);
});

test('empty files share one id, distinct from short files', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'e1'), '');
  writeFileSync(join(dir, 'e2'), '');
  writeFileSync(join(dir, 'zero'), Buffer.from([0]));
  const h = await createContentHasher();
  const e1 = h.identify(join(dir, 'e1'));
  t.is(e1.size, 0);
  t.is(e1.contentId, h.identify(join(dir, 'e2')).contentId);
  t.not(e1.contentId, h.identify(join(dir, 'zero')).contentId);
});

test('small-file id is BLAKE3(u64le size || content) truncated to 16 bytes', async (t) => {
  const dir = tempDir(t);
  const data = randomBytes(777);
  writeFileSync(join(dir, 'f'), data);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(777n);
  const expected = (await blake3(Buffer.concat([size, data]))).slice(0, 32);
  t.is(await contentIdOf(join(dir, 'f')), expected);
});

test('a file of exactly 100 KiB is hashed whole: any changed byte changes the id', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'f');
  writeFileSync(p, randomBytes(SMALL_FILE_LIMIT));
  const before = await contentIdOf(p);
  patch(p, 60_000);
  t.not(await contentIdOf(p), before);
});

test('large files are sampled: bytes outside samples do not change the id (known property), inside do', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'big.bin');
  const size = 1024 * 1024;
  writeFileSync(p, randomBytes(size));
  const ranges = sampleRanges(size);
  t.is(ranges.length, 6);
  t.deepEqual(ranges[0], [0, 8192]);
  t.deepEqual(ranges[5], [size - 8192, 8192]);
  const h = await createContentHasher();
  const base = h.identify(p);
  t.is(base.size, size);
  // Between the first and second 10 KiB block: not sampled, so the id stays (documented).
  const gap = ranges[1]![0] + ranges[1]![1] + 100;
  t.true(gap < ranges[2]![0]);
  patch(p, gap);
  t.is(h.identify(p).contentId, base.contentId);
  // Inside the third block: sampled, so the id changes.
  patch(p, ranges[3]![0] + 5);
  t.not(h.identify(p).contentId, base.contentId);
});

test('large files of different sizes with the same samples differ (size is hashed)', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'sparse');
  const q = join(dir, 'sparse2');
  writeFileSync(p, Buffer.alloc(300 * 1024));
  writeFileSync(q, Buffer.alloc(300 * 1024 + 1));
  t.not(await contentIdOf(p), await contentIdOf(q));
});

test('fullBlake3 streams a multi-chunk file and matches BLAKE3 of its bytes', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'f');
  const data = randomBytes(5 * 1024 * 1024 + 123);
  writeFileSync(p, data);
  t.is(await fullBlake3(p), await blake3(data));
  writeFileSync(join(dir, 'empty'), '');
  t.is(await fullBlake3(join(dir, 'empty')), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
});

test('identify reports the head bytes for kind detection and fails on a missing file', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'p.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
  const h = await createContentHasher();
  t.deepEqual(Array.from(h.identify(join(dir, 'p.png')).head), [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  t.throws(() => h.identify(join(dir, 'nope')), { code: 'ENOENT' });
});

test('the native and the wasm BLAKE3 backends give the same content ids and full hashes', async (t) => {
  const dir = tempDir(t);
  const files = [
    ['small', randomBytes(777)],
    ['large', randomBytes(3 * SMALL_FILE_LIMIT + 17)],
  ] as const;
  for (const [name, data] of files) writeFileSync(join(dir, name), data);
  // On the platforms the package ships a binary for (this one included), the native one is used.
  t.is(blake3Backend(), process.platform === 'linux' && process.arch === 'x64' ? 'native' : blake3Backend());
  const script = `
    const { createContentHasher, fullBlake3 } = await import(${JSON.stringify(new URL('../../src/jobs/content-id.js', import.meta.url).href)});
    const { blake3Backend } = await import(${JSON.stringify(new URL('../../src/jobs/blake3.js', import.meta.url).href)});
    const h = await createContentHasher();
    const dir = ${JSON.stringify(dir)};
    console.log(JSON.stringify({ backend: blake3Backend(), small: h.identify(dir + '/small').contentId, large: h.identify(dir + '/large').contentId, full: await fullBlake3(dir + '/large') }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, SD_BLAKE3: 'wasm' },
    encoding: 'utf8',
  });
  const wasm = JSON.parse(out) as Record<string, string>;
  t.is(wasm.backend, 'wasm');
  const h = await createContentHasher();
  t.is(h.identify(join(dir, 'small')).contentId, wasm.small);
  t.is(h.identify(join(dir, 'large')).contentId, wasm.large);
  t.is(await fullBlake3(join(dir, 'large')), wasm.full);
});

test('a sampled file past 4 GiB hashes its size as a full u64le (a sparse 5 GiB file against an independent computation)', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'huge');
  const size = 5 * 1024 ** 3 + 12345;
  const fd = openSync(p, 'w');
  writeSync(fd, randomBytes(9000), 0, 9000, 0);
  writeSync(fd, Buffer.from('tail'), 0, 4, size - 4);
  closeSync(fd);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(size));
  const parts: Buffer[] = [prefix];
  const rfd = openSync(p, 'r');
  for (const [pos, len] of sampleRanges(size)) {
    const b = Buffer.alloc(len);
    t.is(readSync(rfd, b, 0, len, pos), len);
    parts.push(b);
  }
  closeSync(rfd);
  t.is(await contentIdOf(p), (await blake3(Buffer.concat(parts))).slice(0, 32));
});

test('direct file calls and Node fs give the same ids, attributes and errors (a path that is not UTF-8, a link, a pipe, a missing file)', async (t) => {
  const dir = tempDir(t);
  const files: Array<string | Buffer> = [join(dir, 'small'), join(dir, 'large'), join(dir, 'empty')];
  writeFileSync(join(dir, 'small'), randomBytes(4000));
  writeFileSync(join(dir, 'large'), randomBytes(2 * SMALL_FILE_LIMIT + 5));
  writeFileSync(join(dir, 'empty'), '');
  const odd = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x66, 0xff, 0x6f])]);
  writeFileSync(odd, 'not UTF-8 name');
  files.push(odd);
  symlinkSync(join(dir, 'small'), join(dir, 'link'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  t.not(fileIO(), nodeFileIO(), 'koffi loads on this machine, so the direct calls are the ones compared');
  // As libuv's, a direct open is close-on-exec: a process the daemon starts inherits no file.
  for (const io of [fileIO(), nodeFileIO()]) {
    const fd = io.open(join(dir, 'small'), 0);
    const flags = /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
    io.close(fd);
    t.true((parseInt(flags, 8) & 0o2000000) !== 0, `flags ${flags}`);
  }
  for (const io of [fileIO(), nodeFileIO()])
    t.throws(() => io.open(`${join(dir, 'small')}\0junk`, 0), { code: 'ERR_INVALID_ARG_VALUE' });
  const direct = await createContentHasher(fileIO());
  const node = await createContentHasher(nodeFileIO());
  const stat = (): RawStat => ({ mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n });
  for (const f of files) {
    const [a, b] = [stat(), stat()];
    const x = direct.identify(f, a);
    const y = node.identify(f, b);
    t.is(x.contentId, y.contentId);
    t.is(x.size, y.size);
    t.deepEqual(a, b);
    const st = lstatSync(f, { bigint: true });
    t.deepEqual([BigInt(a.size), a.mtimeNs, a.ino], [st.size, st.mtimeNs, st.ino]);
  }
  for (const [name, code] of [
    ['link', 'ELOOP'],
    ['fifo', 'E_NOT_A_FILE'],
    ['missing', 'ENOENT'],
  ] as const) {
    const p = join(dir, name);
    const e1 = t.throws(() => direct.identify(p), { code });
    const e2 = t.throws(() => node.identify(p), { code });
    if (code !== 'E_NOT_A_FILE') t.is(e1?.message, e2?.message);
  }
});
