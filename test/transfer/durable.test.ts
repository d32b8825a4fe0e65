// A pulled file's chunks start their write-back as they are written (sync_file_range), so the
// checkpoint's fdatasync no longer holds the journal for a second's worth of chunks while the
// receiver's blocking writes wait behind it (bench/transfer.ts). It is a hint only: the bytes and
// the durability (the checkpoint's fdatasync) are the same with or without it.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { dropCached, startWriteback } from '../../src/transfer/durable.js';
import { libc } from '../../src/native/libc.js';
import { tempDir } from '../helpers.js';

test('write-back starts for a written range, leaves its bytes as written, and a bad descriptor is refused quietly', (t) => {
  const path = join(tempDir(t), 'partial');
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const fd = openSync(path, 'w+');
  try {
    for (let off = 0; off < data.length; off += 1024 * 1024) {
      const len = Math.min(1024 * 1024, data.length - off);
      writeSync(fd, data, off, len, off);
      // On Linux with koffi and glibc (as here and in CI) the kernel takes the hint; elsewhere it is a no-op.
      t.is(startWriteback(fd, off, len), process.platform === 'linux' && libc() !== undefined);
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  t.true(readFileSync(path).equals(data));
  // A closed descriptor: no throw, and no claim that anything started.
  t.false(startWriteback(fd, 0, 1024));
});

/** Bytes of `path` in the page cache (fincore, util-linux), or undefined where it is missing. */
function cachedBytes(path: string): number | undefined {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

test('a written chunk dropped from the page cache once on disk keeps its bytes; a dirty one is never lost', (t) => {
  const path = join(tempDir(t), 'partial');
  const MiB = 1024 * 1024;
  const data = randomBytes(12 * MiB);
  const fd = openSync(path, 'w+');
  const linux = process.platform === 'linux' && libc() !== undefined;
  try {
    // The first 8 MiB written and on disk, then dropped; the last 4 written and dropped while dirty.
    writeSync(fd, data, 0, 8 * MiB, 0);
    fdatasyncSync(fd);
    t.is(dropCached(fd, 0, 8 * MiB), linux);
    writeSync(fd, data, 8 * MiB, 4 * MiB, 8 * MiB);
    t.is(dropCached(fd, 8 * MiB, 4 * MiB), linux);
    const cached = cachedBytes(path);
    if (linux && cached !== undefined)
      t.true(cached <= 4 * MiB + 64 * 1024, `${cached} bytes cached: the synced 8 MiB went from the page cache`);
    else t.log('fincore or glibc missing: the cache is not measured');
  } finally {
    closeSync(fd);
  }
  t.true(readFileSync(path).equals(data), 'every byte reads back, the dropped and the dirty ones');
  t.false(dropCached(fd, 0, 1024), 'a closed descriptor: refused quietly');
});
