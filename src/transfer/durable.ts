// Making fetched files durable in batches: one fdatasync per small file made a 10,000-file pull
// wait on the disk 10,000 times. Files fetched whole are synced together at the next checkpoint
// with syncfs(2) (`sync -f`) on the partial folder's file system, and only then counted as done in
// the checkpoint; without `sync`, each is opened again and fdatasync'ed. A batch of a few files (a
// big file's pull ends with a batch of one) is fdatasync'ed file by file all the same: syncfs also
// waits for every other dirty page of the file system (another program's writes), which at the end
// of a 1 GiB pull left both daemons idle for 0.75 s (bench/transfer.ts).
import { spawn } from 'node:child_process';
import { close, constants as C, fdatasync, open } from 'node:fs';
import { promisify } from 'node:util';
import { lazyLibcFunction } from '../native/libc.js';

const openAsync = promisify(open);
const syncAsync = promisify(fdatasync);
const closeAsync = promisify(close);

function syncfs(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('sync', ['-f', dir], { stdio: 'ignore' });
    p.once('error', () => resolve(false));
    p.once('exit', (code) => resolve(code === 0));
  });
}

/** Up to this many files, each is synced on its own rather than the whole file system. */
export const SYNC_EACH_MAX = 8;

/** Flushes the data of `paths` (files under `dir`) to disk. */
export async function syncFiles(dir: string, paths: (string | Buffer)[]): Promise<void> {
  if (paths.length === 0 || (paths.length > SYNC_EACH_MAX && (await syncfs(dir)))) return;
  for (const p of paths) {
    const fd = await openAsync(p, C.O_RDONLY | C.O_NOFOLLOW);
    try {
      await syncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
  }
}

/** sync_file_range(2)'s flag: start writing the range's dirty pages out, without waiting for them. */
const SYNC_FILE_RANGE_WRITE = 2;
// Without it (no koffi or glibc), the checkpoint writes everything, as before.
const syncFileRange = lazyLibcFunction('int sync_file_range(int, int64_t, int64_t, unsigned int)');

/**
 * Starts the write-back of `length` bytes at `offset` of `fd` and returns at once (Linux with glibc;
 * elsewhere nothing, and false). A chunk's bytes then reach the disk while the next ones arrive,
 * instead of all at the checkpoint: its fdatasync of a second's worth of chunks (about 270 MB)
 * held the file system's journal for 140-320 ms, and each chunk written meanwhile (the writes are
 * blocking) waited for it, the whole receiver with it. With this, the checkpoint's fdatasync took
 * 14-55 ms and no chunk write waited more than 5 ms (1 GiB written at a transfer's pace). Only a
 * hint to the kernel: durability still comes from the checkpoint's fdatasync, as before.
 */
export function startWriteback(fd: number, offset: number, length: number): boolean {
  return syncFileRange(fd, offset, length, SYNC_FILE_RANGE_WRITE) === 0;
}

/** posix_fadvise(2)'s advice: the range's clean pages may go from the page cache. */
const POSIX_FADV_DONTNEED = 4;
const fadvise = lazyLibcFunction('int posix_fadvise(int, int64_t, int64_t, int)');

/**
 * Chunks of a big file behind the one just written whose pages are let go from the page cache:
 * their write-back was started DROP_LAG chunks ago (startWriteback) and has finished by then on
 * any disk keeping pace with the link. A page still dirty or under write-back is left alone by
 * the kernel, so nothing written is ever lost, only not cached.
 */
export const DROP_LAG = 8;

/**
 * Lets the page cache drop `length` bytes at `offset` of `fd` once they are on disk (Linux with
 * glibc; elsewhere nothing, and false). The pages freed are the ones the next chunks are written
 * into, while the kernel still has them at hand: a page cache filled with new pages costs a fault
 * per page, far more in a VM whose host takes back free memory (writing 1 GiB: 1.1-1.8 s of system
 * time where the pages were new, 0.19-0.29 s dropping each chunk eight behind). It also leaves
 * the page cache to the user's own files, as `rsync --drop-cache` or `nocache` would: a received
 * file is read from disk again, where a pull of a few GiB no longer pushes out everything else.
 */
export function dropCached(fd: number, offset: number, length: number): boolean {
  return fadvise(fd, offset, length, POSIX_FADV_DONTNEED) === 0;
}
