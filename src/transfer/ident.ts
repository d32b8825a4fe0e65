// Content ids of the small files a transfer receives, computed from the bytes as they are
// written (a small file's id is the BLAKE3 of its size and its whole content: jobs/content-id.ts),
// so that placing 10,000 of them does not read them all again on the hashing threads (two more
// V8 isolates in the receiver, a third of its peak memory in a 10,000-file pull). A bigger file's id
// is of its samples (about 56 KiB): they are read back on the main thread once the file is written
// and verified (from disk but for its last chunks, which the receiver leaves in the page cache:
// durable.ts), for the same reason (placing one 1 GiB file started the hashing threads: 0.25 s of
// CPU and 50 MiB of the receiver's peak, bench/transfer.ts).
import { basename } from 'node:path';
import { identifyFile, KIND_HEAD_SIZE, SMALL_FILE_LIMIT } from '../jobs/content-id.js';
import { kindOf } from '../jobs/kind.js';
import type { Item } from '../ops/entry/tree.js';

/** Per job: `${item}/${rel}` -> [content id, size, the file's first bytes]. */
const byJob = new Map<string, Map<string, [string, number, Uint8Array]>>();

/** Whether a file of this size is identified from its bytes in one piece. */
export const identifiable = (size: number): boolean => size <= SMALL_FILE_LIMIT;

const ofJob = (job: string): Map<string, [string, number, Uint8Array]> =>
  byJob.get(job) ?? byJob.set(job, new Map()).get(job)!;

export function remember(job: string, key: string, cid: string, data: Uint8Array): void {
  ofJob(job).set(key, [cid, data.length, Uint8Array.prototype.slice.call(data, 0, KIND_HEAD_SIZE)]);
}

/**
 * Identifies a file just written (any size) from its bytes on disk, as the hashing threads would;
 * a file that cannot be read is left out (placing then hashes it, as before).
 */
export async function rememberFromDisk(job: string, key: string, path: string | Buffer): Promise<void> {
  try {
    const id = await identifyFile(path);
    ofJob(job).set(key, [id.contentId, id.size, id.head]);
  } catch {
    // placing hashes it
  }
}

export function forget(job: string): void {
  byJob.delete(job);
}

/**
 * Fills the content id and kind of every file of a manifest scanned without hashing (item `i` of
 * the job); false when one of them was not identified in this run (after a restart): hash then.
 */
export function fillIds(job: string, i: number, items: Item[], top: string): boolean {
  const m = byJob.get(job);
  if (!m) return false;
  for (const it of items) {
    if (it[1] !== 0) continue;
    const got = m.get(`${i}/${it[0]}`);
    // Not identified here, or not the size written (then the disk is asked, as before).
    if (!got || it[2] !== got[1]) return false;
    it[4] = got[0];
    it[5] = kindOf(basename(it[0] || top), got[2]);
  }
  return true;
}
