// glibc's malloc kept from giving freed memory back to the kernel while file content streams.
// A transfer allocates and frees 1 MiB buffers without pause (a chunk read, sealed, received,
// opened), and by default glibc returns the top of its heap once 2-4 MiB of it are free, so the
// next buffers take fresh pages: a fault and zeroing per page, and far more in a VM whose host
// takes back free memory (opening 256 MiB of AES-GCM records: 36,123 minor faults; with the busy
// settings below 8,638; 1 GiB of them took 4.2-5.2 s against 0.59 s). While any transfer is in
// flight (either direction) up to 64 MiB of free heap stays with the process; the last one done
// sets a small threshold again, and the daemon's releaser (daemon/memory.ts) trims once idle.
// Only while transfers run (the load bench's indexing daemon peaked 18-52 MiB higher with these
// settings for the whole process). glibc's adaptive thresholds cannot be had back once set, so
// after the last transfer they are set where glibc adapts to after freeing 1 MiB buffers (an
// mmap threshold just above them, trim at twice that): index and query work after a transfer
// runs as it would have without these settings.
import { lazyLibcFunction } from './libc.js';

const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const MiB = 1024 * 1024;
/**
 * Setting either threshold turns glibc's adaptive ones off for good, so both are set. While busy,
 * allocations up to 32 MiB (its adaptive ceiling) come from the heap, and the free top of the heap
 * kept is 64 MiB (V8 frees a transfer's buffers when it collects, some 64 MiB at a time).
 */
export const BUSY = { mmap: 32 * MiB, trim: 64 * MiB };
export const AFTER = { mmap: 2 * MiB, trim: 4 * MiB };

const mallopt = lazyLibcFunction('int mallopt(int, int)');
let holds = 0;

function set(t: { mmap: number; trim: number }): void {
  mallopt(M_MMAP_THRESHOLD, t.mmap);
  mallopt(M_TRIM_THRESHOLD, t.trim);
}

/**
 * Keeps freed memory for reuse until the returned function is called (counted: the first hold
 * sets BUSY, the last release AFTER). Without glibc through koffi, nothing changes.
 */
export function holdFreedMemory(): () => void {
  if (holds++ === 0) set(BUSY);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holds === 0) set(AFTER);
  };
}

/** Holds in force now (tests). */
export const freedMemoryHolds = (): number => holds;
