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
