// Hash bench: content identification with the pool vs b3sum over the same files, then full
// BLAKE3 of a 1 GiB file vs b3sum. The pool is measured both ways it is asked: by path (a file
// operation's files) and by entry key below the location's root (what an index job asks: one C
// call reads a batch, native/io-batch.c). Usage: node dist/bench/hash.js [TREE_DIR] [BIG_FILE]
import { closeSync, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHashPool } from '../src/jobs/hash-pool.js';
import { fullBlake3 } from '../src/jobs/content-id.js';
import { walkSync } from '../src/jobs/walk.js';
import { fsPathOf } from '../src/jobs/names.js';
import { toKey } from '../src/projections/entries.js';
import { makeRng } from '../fixtures/tree.js';
import { benchTree, hasCommand, loadAverage, printTable, timeIt, timeShell, type Row } from './lib.js';

const root = benchTree(process.argv[2]);
const paths: Array<string | Buffer> = [];
const keys: string[] = [];
for (const b of walkSync(root, { skipHidden: false, skipNames: [] })) {
  for (const e of b.entries)
    if (!e.isDir && !e.isSymlink) {
      paths.push(fsPathOf(root, e.relPath));
      keys.push(toKey(e.relPath));
    }
}
const haveB3 = hasCommand('b3sum');
if (!haveB3) console.log('b3sum not found: peer figures are missing (apt-get install -y b3sum)');

const rows: Row[] = [];
// Equal thread counts: our pool of N worker threads against N b3sum processes of one thread each
// (b3sum's own --num-threads splits one file, which small files never need).
const b3Tree = (threads: number): number =>
  haveB3
    ? timeShell(`find '${root}' -type f -print0 | xargs -0 -P ${threads} -n 2000 b3sum --num-threads 1 > /dev/null`)
    : NaN;
const filesPerSec = (ms: number): number => (paths.length / ms) * 1000;
for (const threads of [1, 2]) {
  const pool = createHashPool({ threads });
  try {
    const byPath = await timeIt(() => pool.hash(paths));
    const failed = byPath.result.filter((r) => 'error' in r).length;
    if (failed > 0) console.log(`${failed} files failed to hash`);
    // The pool splits the keys into its batches, as it splits an index job's (each with its attributes).
    const byKey = await timeIt(() => pool.hashKeys(root, keys, true));
    const failedKeys = byKey.result.results.filter((r) => 'error' in r).length;
    if (failedKeys > 0) console.log(`${failedKeys} files failed to hash by key`);
    const peer = filesPerSec(b3Tree(threads));
    rows.push(
      {
        what: `content id by path, pool x${threads} vs ${threads} b3sum --num-threads 1 (xargs -P ${threads})`,
        unit: 'files/s',
        ours: filesPerSec(byPath.ms),
        peer,
        target: '',
      },
      {
        what: `content id by key below the root (an index job's way), pool x${threads} vs the same b3sum`,
        unit: 'files/s',
        ours: filesPerSec(byKey.ms),
        peer,
        target: threads === 1 ? 'ratio >= 1.3 (we read samples, b3sum every byte)' : '',
      },
    );
  } finally {
    await pool.close();
  }
}
console.log(`files: ${paths.length}`);

// 1 GiB of seeded pseudo-random bytes (not sparse: both sides must really read and hash it).
const big = process.argv[3] ?? join(tmpdir(), 'vdfs-bench-1gib.bin');
const GiB = 2 ** 30;
if (!existsSync(big) || statSync(big).size !== GiB) {
  const rng = makeRng(42);
  const chunk = Buffer.allocUnsafe(4 * 2 ** 20);
  const view = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4);
  const fd = openSync(big, 'w');
  try {
    for (let off = 0; off < GiB; off += chunk.length) {
      for (let i = 0; i < view.length; i += 1024) view[i] = Math.floor(rng() * 2 ** 32); // cheap variety
      writeSync(fd, chunk, 0, chunk.length, off);
    }
  } finally {
    closeSync(fd);
  }
  console.log(`wrote ${big}`);
}
const ours = await timeIt(() => fullBlake3(big), 2);
const mibPerSec = (ms: number): number => (1024 / ms) * 1000;
for (const threads of [1, 2]) {
  rows.push({
    what: `full BLAKE3 1 GiB, ours x1 vs b3sum --num-threads ${threads}`,
    unit: 'MiB/s',
    ours: mibPerSec(ours.ms),
    peer: mibPerSec(haveB3 ? timeShell(`b3sum --num-threads ${threads} '${big}' > /dev/null`, 2) : NaN),
    target: threads === 1 ? 'ratio >= 0.5' : '(one file is hashed on one thread by us)',
  });
}
console.log(`load average ${loadAverage()}`);
printTable('hash (warm cache, best of runs)', rows);
