// A hashing thread's batch of files read in one C call (native/io-batch.c, compiled by
// scripts/build-native.js as the package builds): each file opened below the location's root
// without following a symlink on the way (as beneath.ts), its attributes and the bytes its id is
// hashed from laid out as content-id.ts hashes them. Per file, the four calls through koffi and the
// JavaScript around them (about a quarter of a hashing thread's time per file on a tree of small
// files) become a slice of one call per batch. What a call read is then hashed in one more C call
// (vd_hash_read: every file's chunks 16 or 8 at a time across the batch, native/blake3-lanes.h)
// where the CPU has AVX-512 or AVX2; elsewhere, or with SD_IO_HASH=off, the caller hashes each
// file in JavaScript.
// Only a file read whole is handed back; any other (a failed open, not a regular file, one that
// shrank while it was read, one past 2^53 bytes) is left to the caller's own way, which gives the
// error a user sees, or the id.
// Undefined where the library was not built (no C compiler), koffi is missing, or beneath() is.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { libc } from '../native/libc.js';
import { beneath } from './beneath.js';
import { makedev, type RawStat } from './statx.js';
import { HEAD_SIZE, SAMPLE_COUNT, SAMPLE_SIZE, SMALL_FILE_LIMIT, TAIL_SIZE } from './content-id.js';

/** Where scripts/build-native.js puts the library (with walk-batch.ts's calls too), beside dist/src. */
export const IO_BATCH_LIBRARY = fileURLToPath(new URL('../../native/io-batch.so', import.meta.url));

// The META slots native/io-batch.c fills per file.
const M_STATUS = 0;
const M_OFF = 1;
const M_LEN = 2;
const M_ID_SIZE = 3;
const M_SIZE = 4;
const M_MODE = 5;
const M_SEC = 6;
const M_NSEC = 7;
const M_INO = 8;
const M_MAJOR = 9;
const M_MINOR = 10;
const META = 11;
const SIZE_PREFIX = 8;
/** What native/io-batch.c must be built with (its vd_layout): the slots, and the samples as content-id.ts takes them. */
const LAYOUT = [META, SIZE_PREFIX, SMALL_FILE_LIMIT, HEAD_SIZE, TAIL_SIZE, SAMPLE_COUNT, SAMPLE_SIZE];
/** Room for about twenty of the largest bodies (100 KiB), or a whole batch of typical small files. */
const BUFFER_BYTES = 2 << 20;

/** One batch's files, read in order as they are asked for. */
export interface BatchRead {
  /**
   * Whether file `i` was read whole: its fields below then hold it until the next call. False for
   * a file the caller must identify its own way (also for an undefined name).
   */
  file(i: number): boolean;
  /** u64le(idSize) || body of the file last read: what its content id is the BLAKE3 of. */
  prefixed(): Buffer;
  /** Its content id, hashed in C with the rest of its call, or undefined: the caller hashes prefixed(). */
  id(): string | undefined;
  /** The size the id is of: the bytes read of a small file, the size it was sampled at of a large one. */
  idSize(): number;
  /** Its first `n` bytes (fewer for a shorter file), a view valid until the next call. */
  head(n: number): Uint8Array;
  /** Its open descriptor's attributes (the last fstat, as content-id.ts reports them). */
  stat(out: RawStat): void;
}

type ReadBatch = (dirFd: number, rels: Buffer, count: number, buf: Buffer, cap: number, meta: BigInt64Array) => number;
/** 1 when it put the ids of the files read into `ids` (16 bytes each), 0 when the caller must hash them. */
type HashRead = (buf: Buffer, meta: BigInt64Array, count: number, ids: Buffer) => number;
/** The calls; `hash` and its lanes (`width`) only where C hashes (width 0 otherwise). */
let made: { read: ReadBatch; hash: HashRead | undefined; width: number } | null | undefined;
let buf: Buffer | undefined;

/** This thread's batch reads, or undefined where they cannot be made (the caller goes file by file). */
export function batchReads():
  ((dirFd: number, rels: ReadonlyArray<string | Buffer | undefined>) => BatchRead) | undefined {
  if (made === undefined) made = load();
  const lib = made;
  if (!lib) return undefined;
  return (dirFd, rels) => readBelow(lib.read, lib.hash, dirFd, rels);
}

/** The library, loaded once per thread, or null where it cannot be used. */
let loaded: ReturnType<NonNullable<ReturnType<typeof libc>>['koffi']['load']> | null | undefined;
export function library(): typeof loaded {
  if (loaded !== undefined) return loaded;
  const c = libc();
  loaded = null;
  if (!c || !beneath() || process.env.SD_IO_BATCH === 'off' || !existsSync(IO_BATCH_LIBRARY)) return loaded;
  try {
    loaded = c.koffi.load(IO_BATCH_LIBRARY);
  } catch {
    loaded = null;
  }
  return loaded;
}

/** The lanes this thread's batches are hashed with in C: 16 (AVX-512), 8 (AVX2), or 0 (in JavaScript). */
export function hashWidth(): number {
  if (made === undefined) made = load();
  return made?.width ?? 0;
}

/**
 * BLAKE3-128 in hex of each input, hashed together in one C call as a batch read's files are, or
 * undefined where C does not hash (fuzz/targets.ts compares it with the JavaScript hasher).
 */
export function hashInC(inputs: readonly Uint8Array[]): string[] | undefined {
  if (made === undefined) made = load();
  const hash = made?.hash;
  if (!hash) return undefined;
  // Laid out as a read call lays out its files: each at its offset, its length the body's, after
  // the 8 bytes of the size prefix (here, the input's first 8 bytes: any input of 8 or more).
  const bytes = inputs.reduce((n, b) => n + b.length, 0);
  const all = Buffer.alloc(Math.max(1, bytes));
  const meta = new BigInt64Array(Math.max(1, inputs.length) * META);
  let at = 0;
  inputs.forEach((b, i) => {
    if (b.length < SIZE_PREFIX) throw new RangeError('an input of fewer than 8 bytes has no size prefix');
    all.set(b, at);
    meta[i * META + M_OFF] = BigInt(at);
    meta[i * META + M_LEN] = BigInt(b.length - SIZE_PREFIX);
    at += b.length;
  });
  const ids = Buffer.alloc(16 * Math.max(1, inputs.length));
  if (hash(all, meta, inputs.length, ids) !== 1) return undefined;
  return inputs.map((_, i) => ids.toString('hex', 16 * i, 16 * i + 16));
}

function load(): { read: ReadBatch; hash: HashRead | undefined; width: number } | null {
  const lib = library();
  if (!lib) return null;
  try {
    // A library built from another version of the C file (its slots, limits or samples differ) is not used.
    const built = new BigInt64Array(LAYOUT.length);
    lib.func('void vd_layout(int64_t *)')(built);
    if (built.some((v, i) => v !== BigInt(LAYOUT[i]!))) return null;
    const read = lib.func('int vd_read_batch(int, const uint8_t *, int, uint8_t *, int64_t, int64_t *)') as ReadBatch;
    let hash: HashRead | undefined;
    let width = 0;
    if (process.env.SD_IO_HASH !== 'off' && process.env.SD_BLAKE3 !== 'wasm')
      try {
        width = (lib.func('int vd_hash_width(void)') as () => number)();
        if (width > 0)
          hash = lib.func('int vd_hash_read(const uint8_t *, const int64_t *, int, uint8_t *)') as HashRead;
      } catch {
        // a library from before vd_hash_read: the caller hashes
        hash = undefined;
        width = 0;
      }
    return { read, hash, width };
  } catch {
    return null;
  }
}

const NUL = Buffer.alloc(1);

function readBelow(
  read: ReadBatch,
  hash: HashRead | undefined,
  dirFd: number,
  rels: ReadonlyArray<string | Buffer | undefined>,
): BatchRead {
  const b = (buf ??= Buffer.allocUnsafe(BUFFER_BYTES));
  // The names to read, NUL-ended one after the other; a file's place among them, and where it starts.
  const places = new Int32Array(rels.length).fill(-1);
  const starts: number[] = [];
  const parts: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; i < rels.length; i++) {
    const rel = rels[i];
    if (rel === undefined) continue;
    const part = typeof rel === 'string' ? Buffer.from(rel) : rel;
    // A name holding NUL would end early in C and name another file: left to the caller, which refuses it.
    if (part.includes(0)) continue;
    places[i] = starts.length;
    starts.push(bytes);
    parts.push(part, NUL);
    bytes += part.length + 1;
  }
  const joined = Buffer.concat(parts, bytes);
  const meta = new BigInt64Array(Math.max(1, starts.length) * META);
  // The places [from, to) the last call read.
  let from = 0;
  let to = 0;
  let m = 0;
  // The ids of the places [from, to) in hex, 32 characters each, when the last call's files were hashed in C.
  let hex: string | undefined;
  const ids = hash ? Buffer.allocUnsafe(16 * Math.max(1, starts.length)) : undefined;
  const slot = (k: number): number => Number(meta[m + k]);
  return {
    file(i) {
      const place = places[i]!;
      if (place < 0) return false;
      if (place < from || place >= to) {
        hex = undefined; // never the ids of another call, whatever happens below
        const done = read(
          dirFd,
          joined.subarray(starts[place]!),
          starts.length - place,
          b,
          b.length,
          meta.subarray(place * META),
        );
        if (done <= 0) return false;
        from = place;
        to = place + done;
        // One string for the call: its ids are slices of it.
        hex =
          ids && hash!(b, meta.subarray(place * META), done, ids) === 1 ? ids.toString('hex', 0, 16 * done) : undefined;
      }
      m = place * META;
      return slot(M_STATUS) === 0;
    },
    prefixed: () => b.subarray(slot(M_OFF), slot(M_OFF) + SIZE_PREFIX + slot(M_LEN)),
    id: () => hex?.slice(32 * (m / META - from), 32 * (m / META - from) + 32),
    idSize: () => slot(M_ID_SIZE),
    head: (n) => b.subarray(slot(M_OFF) + SIZE_PREFIX, slot(M_OFF) + SIZE_PREFIX + Math.min(n, slot(M_LEN))),
    stat(out) {
      out.mode = slot(M_MODE);
      out.size = slot(M_SIZE);
      out.mtimeNs = meta[m + M_SEC]! * 1_000_000_000n + meta[m + M_NSEC]!;
      out.ino = BigInt.asUintN(64, meta[m + M_INO]!);
      out.dev = makedev(slot(M_MAJOR), slot(M_MINOR));
    },
  };
}
