// One share of a parallel log verification: every worker scans all rows (cheap) to follow the
// chains, and does the expensive checks (hash, decode, signature) for its own share of rows.
import Database from 'better-sqlite3-multiple-ciphers';
import { parentPort, workerData } from 'node:worker_threads';
import { applyKey } from '../store/cipher.js';
import { initHashing } from './hash.js';
import { checkEvent, type BadEvent } from './verify.js';

interface Job {
  path: string;
  key?: string;
  lib: string;
  part: number;
  parts: number;
  roster: [string, Uint8Array][];
}

const job = workerData as Job;
await initHashing();
const db = new Database(job.path, { readonly: true, fileMustExist: true });
if (job.key) applyKey(db, job.key);
const keys = new Map(job.roster.map(([d, k]) => [d, new Uint8Array(k)]));
let events = 0;
let bad = 0;
let firstBad: BadEvent | undefined;
let dev = '';
let expectSeq = 1;
let prevHash: Uint8Array | null = null;
let i = 0;
for (const row of db
  .prepare('SELECT dev, seq, hash, type, bytes, sig FROM events ORDER BY dev, seq')
  .iterate() as IterableIterator<{
  dev: string;
  seq: number;
  hash: Buffer;
  type: string;
  bytes: Buffer;
  sig: Buffer;
}>) {
  events++;
  if (row.dev !== dev) {
    dev = row.dev;
    expectSeq = 1;
    prevHash = null;
  }
  let problem: BadEvent | undefined;
  if (row.seq !== expectSeq) {
    if (job.part === 0)
      problem = {
        dev: row.dev,
        seq: row.seq,
        code: 'E_BROKEN_CHAIN',
        reason: `expected ${row.dev}#${expectSeq}, found #${row.seq} (missing events)`,
      };
  } else if (i % job.parts === job.part) {
    problem = checkEvent(row, prevHash, job.lib, keys.get(row.dev));
  }
  if (problem) {
    bad++;
    firstBad ??= problem;
  }
  expectSeq = row.seq + 1;
  prevHash = row.hash;
  i++;
}
db.close();
parentPort!.postMessage({ events, bad, firstBad });
