// Child process for the io-batch test: hashes a location's files by key (as an index job asks) in
// a process of its own, so the C library reads its environment (SD_B3_WIDTH: which kernel) as it
// loads. argv: root, then the keys as JSON on stdin; prints the lanes the thread hashed with (its
// first line), then each result as the test shows it.
import { readFileSync } from 'node:fs';
import { createHashPool } from '../../src/jobs/hash-pool.js';
import { hashWidth } from '../../src/jobs/io-batch.js';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: hash-keys ROOT < KEYS_JSON\n');
  process.exit(2);
}
const keys = JSON.parse(readFileSync(0, 'utf8')) as string[];
const pool = createHashPool({ threads: 1 });
try {
  const { results } = await pool.hashKeys(root, keys, true);
  // The library is loaded once per process: this thread's width is the hashing thread's.
  process.stdout.write(`lanes ${hashWidth()}\n`);
  for (const r of results)
    process.stdout.write(`${'error' in r ? `error ${r.error.code}` : `${r.contentId} ${r.size} ${r.kind}`}\n`);
} finally {
  await pool.close();
}
