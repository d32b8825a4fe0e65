// open(2), pread(2) and close(2) for the hashing threads, called directly (koffi) where it loads,
// Node's fs otherwise. A first index opens, reads and closes every file once: Node's sync calls
// cost about 1.5 us more per file than the same calls made directly (their argument checks, and an
// error context per call), a tenth of what hashing a small file costs.
// Errors carry the errno's name as `code` and Node's sentence, as Node's own would.
import { closeSync, openSync, readSync } from 'node:fs';
import { libc, libcFunction } from '../native/libc.js';
import { statError } from './statx.js';

export interface FileIO {
  /** A descriptor of `path` opened with `flags` (read-only flags: no mode). */
  open(path: string | Buffer, flags: number): number;
  /** Reads at most `length` bytes at `position` into `buf` from `offset`; 0 at the end. */
  pread(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  close(fd: number): void;
}

const nodeIO: FileIO = {
  open: (path, flags) => openSync(path, flags),
  pread: (fd, buf, offset, length, position) => readSync(fd, buf, offset, length, position),
  close: (fd) => closeSync(fd),
};

let made: FileIO | undefined;

/** The calls of this thread: direct where koffi and glibc load, Node's otherwise. */
export function fileIO(): FileIO {
  return (made ??= direct() ?? nodeIO);
}

/** Tests only: Node's calls, as where koffi is missing. */
export function nodeFileIO(): FileIO {
  return nodeIO;
}

const ZERO = Buffer.alloc(1);
const EINTR = 4;
const OPEN_TRIES = 100;
/**
 * Linux's O_CLOEXEC (the same value on every architecture Node runs on): libuv adds it to every
 * open, so a descriptor a hashing thread holds is never inherited by a process the daemon starts.
 */
const O_CLOEXEC = 0o2000000;

function direct(): FileIO | undefined {
  const c = libc();
  // 64-bit only: on a 32-bit C library, `long` offsets and plain open stop at 2 GiB.
  if (!c || !['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64'].includes(process.arch)) return undefined;
  // open's third argument (the mode) is read only with O_CREAT; passing 0 keeps the call fixed-arity.
  const byName = libcFunction('int open(const char *, int, unsigned int)');
  const byBytes = libcFunction('int open(const uint8_t *, int, unsigned int)');
  const pread = libcFunction('long pread(int, void *, unsigned long, long)');
  const close = libcFunction('int close(int)');
  if (!byName || !byBytes || !pread || !close) return undefined;
  return {
    open(path, flags) {
      // C would stop at a NUL byte and open another file; Node refuses such a path, and so do we.
      if (typeof path === 'string' ? path.includes('\0') : path.includes(0))
        throw Object.assign(new TypeError(`a path with a NUL byte cannot be opened: ${JSON.stringify(String(path))}`), {
          code: 'ERR_INVALID_ARG_VALUE',
        });
      const f = flags | O_CLOEXEC;
      const p = typeof path === 'string' ? path : Buffer.concat([path, ZERO]);
      // An open a signal interrupts is made again, as libuv makes Node's (a FUSE or NFS mount can
      // return EINTR despite SA_RESTART); bounded, where libuv is not.
      for (let tries = 1; ; tries++) {
        const fd = typeof p === 'string' ? byName(p, f, 0) : byBytes(p, f, 0);
        if (fd >= 0) return fd;
        const errno = c.koffi.errno();
        if (errno !== EINTR || tries === OPEN_TRIES) throw statError(errno, `open '${String(path)}'`);
      }
    },
    pread(fd, buf, offset, length, position) {
      if (offset < 0 || length < 0 || offset + length > buf.length) throw new RangeError('read past the buffer');
      const n = pread(fd, offset === 0 ? buf : buf.subarray(offset), length, position);
      if (n < 0) throw statError(c.koffi.errno(), 'read');
      return n;
    },
    close(fd) {
      if (close(fd) !== 0) throw statError(c.koffi.errno(), 'close');
    },
  };
}
