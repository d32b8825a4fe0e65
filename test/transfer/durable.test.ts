// A pulled file's chunks start their write-back as they are written (sync_file_range), so the
// checkpoint's fdatasync no longer holds the journal for a second's worth of chunks while the
// receiver's blocking writes wait behind it (bench/transfer.ts). It is a hint only: the bytes and
// the durability (the checkpoint's fdatasync) are the same with or without it.
import test from 'ava';
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startWriteback } from '../../src/transfer/durable.js';
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
