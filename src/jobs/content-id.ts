// Content identification: BLAKE3 of small files whole, of large files by samples.
//
// Layout hashed (all sizes in bytes):
//   small (size <= SMALL_FILE_LIMIT): u64le(size) || whole content
//   large (size >  SMALL_FILE_LIMIT): u64le(size) || head[0, 8 KiB) || 4 blocks of 10 KiB at
//     offset HEAD + i * floor((size - HEAD - TAIL) / 4), i = 0..3 || tail[size - 8 KiB, size)
// Content id = hex of the first 16 bytes of the BLAKE3 digest (32 hex chars).
//
// Known property of sampling: for a large file, changing bytes that fall outside every sample
// (see sampleRanges) keeps the id. That is the price of identifying a 1 TiB file in ~56 KiB of
// reads; the id is meant for "is this probably the same content", not integrity. Use
// fullBlake3 when integrity matters.
import { constants as C } from 'node:fs';
import { open } from 'node:fs/promises';
import { createBlake3, type Blake3 } from './blake3.js';
import { fstatInto, type RawStat } from './statx.js';
import { fileIO, type FileIO } from './file-io.js';
import { SdError } from '../errors.js';
import { beneath } from './beneath.js';

export const SMALL_FILE_LIMIT = 100 * 1024;
export const HEAD_SIZE = 8 * 1024;
export const TAIL_SIZE = 8 * 1024;
export const SAMPLE_COUNT = 4;
export const SAMPLE_SIZE = 10 * 1024;
/** How many leading bytes identify() hands back for kind detection. */
export const KIND_HEAD_SIZE = 64;

const SAMPLED_BYTES = HEAD_SIZE + SAMPLE_COUNT * SAMPLE_SIZE + TAIL_SIZE;

export interface ContentIdentity {
  contentId: string;
  size: number;
  /** The first KIND_HEAD_SIZE bytes (fewer for shorter files), for kindOf(). */
  head: Uint8Array;
}

export interface ContentHasher {
  /**
   * Synchronous: opens, reads into preallocated buffers, hashes, closes. With `stat`, the open
   * file's attributes (its fstat, the one read before the id's size) are put there, also when
   * the call then throws for a file that is not a regular one.
   */
  identify(path: string | Buffer, stat?: RawStat): ContentIdentity;
  /**
   * identify() of `rel` below the folder `dirFd` is open on, opened without following a symlink
   * anywhere on the way (beneath.ts); only where beneath() is defined.
   */
  identifyAt(dirFd: number, rel: string | Buffer, stat?: RawStat): ContentIdentity;
  /** The id of bytes laid out as an id hashes them, u64le(size) || body (io-batch.ts reads them so). */
  idOfPrefixed(prefixed: Uint8Array): string;
}

/** [offset, length] pairs that a file of `size` bytes is hashed from (after the size prefix). */
export function sampleRanges(size: number): Array<[number, number]> {
  if (size <= SMALL_FILE_LIMIT) return [[0, size]];
  const ranges: Array<[number, number]> = [[0, HEAD_SIZE]];
  const jump = Math.floor((size - HEAD_SIZE - TAIL_SIZE) / SAMPLE_COUNT);
  for (let i = 0; i < SAMPLE_COUNT; i++) ranges.push([HEAD_SIZE + i * jump, SAMPLE_SIZE]);
  ranges.push([size - TAIL_SIZE, TAIL_SIZE]);
  return ranges;
}

// Reads exactly `length` bytes at `position` unless EOF comes first; returns bytes read. A first
// read that returns exactly `expected` bytes (the size fstat gave) is taken as the end.
function readFully(
  io: FileIO,
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
  expected = -1,
): number {
  let done = 0;
  // Bounded: each pass reads >= 1 byte or stops.
  while (done < length) {
    const n = io.pread(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
    if (done === expected) break;
  }
  return done;
}

const READ_FLAGS = C.O_RDONLY | C.O_NONBLOCK | C.O_NOFOLLOW;

const SIZE_PREFIX = 8;
const sizeBuf = Buffer.alloc(SIZE_PREFIX);

/** u64le(size) into the first 8 bytes of `buf`, without a BigInt: sizes are below 2^53. */
function writeSize(buf: Buffer, size: number): void {
  buf.writeUInt32LE(size % 0x1_0000_0000, 0);
  buf.writeUInt32LE(Math.floor(size / 0x1_0000_0000), 4);
}

/** The id's digest: BLAKE3-128 of u64le(size) || body (body: the whole file, or its samples). */
function digestOf(hasher: Blake3, size: number, body: Uint8Array): string {
  writeSize(sizeBuf, size);
  hasher.init();
  hasher.update(sizeBuf);
  hasher.update(body);
  return hasher.digest();
}

let bytesHasher: Blake3 | undefined;

/** The content id of a small file (at most SMALL_FILE_LIMIT bytes) from its bytes, as identify() reads it from disk. */
export async function contentIdOfBytes(data: Uint8Array): Promise<string> {
  return digestOf((bytesHasher ??= await createBlake3(128)), data.length, data);
}

export async function createContentHasher(io: FileIO = fileIO()): Promise<ContentHasher> {
  // 128-bit BLAKE3 output is exactly the first 16 bytes of the standard digest (XOF prefix).
  const hasher: Blake3 = await createBlake3(128);
  // Each buffer starts with room for the u64le(size) prefix, so the digest is one update of one
  // view (a call into the hasher per file less). One extra byte lets a single read tell "fits"
  // from "grew past the limit".
  const smallBuf = Buffer.allocUnsafe(SIZE_PREFIX + SMALL_FILE_LIMIT + 1);
  const sampleBuf = Buffer.allocUnsafe(SIZE_PREFIX + SAMPLED_BYTES);

  /** The id of `size` and the `len` bytes after the prefix room in `buf`. */
  const idOfPrefixed = (prefixed: Uint8Array): string => {
    hasher.init();
    hasher.update(prefixed);
    return hasher.digest();
  };
  const digest = (buf: Buffer, size: number, len: number): string => {
    writeSize(buf, size);
    return idOfPrefixed(buf.subarray(0, SIZE_PREFIX + len));
  };
  const scratch: RawStat = { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n };
  // Size of the open file (its attributes into `st`), -1 when it is not a regular file.
  const sizeOf = (fd: number, st: RawStat): number => {
    fstatInto(fd, st);
    return (st.mode & C.S_IFMT) === C.S_IFREG ? st.size : -1;
  };

  // Non-blocking and never through a link: a named pipe, socket or device opens without waiting
  // and is refused by the fstat below, before a single read.
  const identify = (path: string | Buffer, stat: RawStat = scratch): ContentIdentity =>
    identifyOpen(io.open(path, READ_FLAGS), stat);
  const identifyAt = (dirFd: number, rel: string | Buffer, stat: RawStat = scratch): ContentIdentity => {
    const b = beneath();
    if (!b) throw new SdError('E_INTERNAL', 'openat2 cannot be called here; open by path');
    return identifyOpen(b.open(dirFd, rel, READ_FLAGS), stat);
  };

  /** The identity of the file open on `fd`, which it closes. */
  function identifyOpen(fd: number, stat: RawStat): ContentIdentity {
    try {
      const fileSize = sizeOf(fd, stat);
      if (fileSize < 0)
        throw new SdError('E_NOT_A_FILE', 'not a regular file (a named pipe, socket or device is never read)');
      // A read that returns exactly the size fstat gave has reached the end: no second read to see
      // 0 bytes (one system call per file less). A file that grew since returns more, and the loop
      // goes on as before.
      const n = readFully(io, fd, smallBuf, SIZE_PREFIX, SMALL_FILE_LIMIT + 1, 0, fileSize);
      if (n <= SMALL_FILE_LIMIT) {
        const head = Uint8Array.prototype.slice.call(smallBuf, SIZE_PREFIX, SIZE_PREFIX + Math.min(n, KIND_HEAD_SIZE));
        return { contentId: digest(smallBuf, n, n), size: n, head };
      }
      const size = sizeOf(fd, stat);
      let at = SIZE_PREFIX;
      for (const [pos, len] of sampleRanges(size)) {
        const got = readFully(io, fd, sampleBuf, at, len, pos);
        if (got !== len) {
          throw new SdError('E_FILE_CHANGED', `file shrank while it was being identified; it will be retried`, {
            size,
          });
        }
        at += len;
      }
      const head = Uint8Array.prototype.slice.call(sampleBuf, SIZE_PREFIX, SIZE_PREFIX + KIND_HEAD_SIZE);
      return { contentId: digest(sampleBuf, size, at - SIZE_PREFIX), size, head };
    } finally {
      io.close(fd);
    }
  }

  return { identify, identifyAt, idOfPrefixed };
}

let shared: Promise<ContentHasher> | undefined;

/** Identity of one file on this thread, for one-off calls; hot paths hold their own createContentHasher(). */
export async function identifyFile(path: string | Buffer): Promise<ContentIdentity> {
  shared ??= createContentHasher();
  return (await shared).identify(path);
}

export async function contentIdOf(path: string | Buffer): Promise<string> {
  return (await identifyFile(path)).contentId;
}

export const FULL_CHUNK_SIZE = 4 * 1024 * 1024;

/**
 * Full 256-bit BLAKE3 hex of a whole file, streamed in 4 MiB chunks; the next chunk is read
 * (on the libuv pool) while the current one is hashed, so the cost is the hashing alone.
 */
export async function fullBlake3(path: string | Buffer): Promise<string> {
  const hasher = await createBlake3(256);
  hasher.init();
  const bufs = [Buffer.allocUnsafe(FULL_CHUNK_SIZE), Buffer.allocUnsafe(FULL_CHUNK_SIZE)] as const;
  const fh = await open(path, READ_FLAGS);
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new SdError('E_NOT_A_FILE', 'not a regular file (a named pipe, socket or device is never read)');
  }
  let pending = fh.read(bufs[0], 0, FULL_CHUNK_SIZE, 0);
  try {
    let position = 0;
    let which = 0;
    // Bounded by the file length: each pass advances or ends.
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const current = bufs[which]!;
      position += bytesRead;
      which ^= 1;
      pending = fh.read(bufs[which]!, 0, FULL_CHUNK_SIZE, position);
      hasher.update(current.subarray(0, bytesRead));
    }
  } finally {
    // On an early exit a read may still be in flight; let it settle before closing.
    await pending.catch(() => undefined);
    await fh.close();
  }
  return hasher.digest();
}
