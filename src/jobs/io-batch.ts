// A hashing thread's batch of files read in one C call (native/io-batch.c, compiled by
// scripts/build-native.js as the package builds): each file opened below the location's root
// without following a symlink on the way (as beneath.ts), its attributes and the bytes its id is
// hashed from laid out as content-id.ts hashes them. Per file, the four calls through koffi and the
// JavaScript around them (about a quarter of a hashing thread's time per file on a tree of small
// files) become a slice of one call per batch.
// Only a file read whole is handed back; any other (a failed open, not a regular file, one that
// shrank while it was read, one past 2^53 bytes) is left to the caller's own way, which gives the
// error a user sees, or the id.
// Undefined where the library was not built (no C compiler), koffi is missing, or beneath() is.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { libc } from '../native/libc.js';
import { beneath } from './beneath.js';
import { makedev, type RawStat } from './statx.js';
import type { LstatColumns } from './hash-wire.js';
import { HEAD_SIZE, SAMPLE_COUNT, SAMPLE_SIZE, SMALL_FILE_LIMIT, TAIL_SIZE } from './content-id.js';

/** Where scripts/build-native.js puts the library, beside dist/src. */
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
  /** The size the id is of: the bytes read of a small file, the size it was sampled at of a large one. */
  idSize(): number;
  /** Its first `n` bytes (fewer for a shorter file), a view valid until the next call. */
  head(n: number): Uint8Array;
  /** Its open descriptor's attributes (the last fstat, as content-id.ts reports them). */
  stat(out: RawStat): void;
}

type ReadBatch = (dirFd: number, rels: Buffer, count: number, buf: Buffer, cap: number, meta: BigInt64Array) => number;
type LstatBatch = (
  rootFd: number,
  rels: Buffer,
  bytes: number,
  count: number,
  status: Int32Array,
  flags: Uint8Array,
  size: Float64Array,
  mtimeMs: Float64Array,
  ino: BigUint64Array,
  dev: BigUint64Array,
) => number;

let made: ReadBatch | null | undefined;
let buf: Buffer | undefined;
let madeLstat: LstatBatch | null | undefined;
/** What native/io-batch.c's vd_lstat_batch must say of itself (its flags and statuses as here). */
const LSTAT_VERSION = 2;

/** This thread's batch reads, or undefined where they cannot be made (the caller goes file by file). */
export function batchReads():
  ((dirFd: number, rels: ReadonlyArray<string | Buffer | undefined>) => BatchRead) | undefined {
  if (made === undefined) made = load();
  const read = made;
  if (!read) return undefined;
  return (dirFd, rels) => readBelow(read, dirFd, rels);
}

/**
 * This thread's lstat of a walk's batch below a location's root in one C call, or undefined where
 * it cannot be made (the caller goes entry by entry). It fills `out` for the entries of `rels` it
 * could read (an undefined one is not asked) and returns the others, which the caller lstats again
 * its own way for their errors: a failed open or lstat, or a name holding NUL.
 */
export function lstatBatch():
  ((rootFd: number, rels: ReadonlyArray<string | Buffer | undefined>, out: LstatColumns) => number[]) | undefined {
  if (madeLstat === undefined) madeLstat = loadLstat();
  const lstat = madeLstat;
  if (!lstat) return undefined;
  return (rootFd, rels, out) => lstatBelow(lstat, rootFd, rels, out);
}

function loadLstat(): LstatBatch | null {
  const lib = library();
  if (!lib) return null;
  try {
    if (lib.func('int vd_lstat_version(void)')() !== LSTAT_VERSION) return null;
    return lib.func(
      'int vd_lstat_batch(int, uint8_t *, int64_t, int, int32_t *, uint8_t *, double *, double *, uint64_t *, uint64_t *)',
    ) as LstatBatch;
  } catch {
    return null; // a library built before vd_lstat_batch
  }
}

function lstatBelow(
  lstat: LstatBatch,
  rootFd: number,
  rels: ReadonlyArray<string | Buffer | undefined>,
  out: LstatColumns,
): number[] {
  // The names NUL-ended one after the other, an empty one for an entry not asked (no entry's path is empty).
  let bytes = 0;
  for (const rel of rels)
    bytes += (rel === undefined ? 0 : typeof rel === 'string' ? Buffer.byteLength(rel) : rel.length) + 1;
  const joined = Buffer.alloc(bytes);
  const again: number[] = [];
  let at = 0;
  for (let i = 0; i < rels.length; i++) {
    const rel = rels[i];
    if (rel !== undefined) {
      const end = typeof rel === 'string' ? at + joined.write(rel, at) : at + rel.copy(joined, at);
      // A name holding NUL would end early in C and name another entry, and an empty one is not
      // asked there: both left to the caller (which refuses the first and finds no entry for the second).
      if (end === at || joined.subarray(at, end).includes(0)) {
        joined.fill(0, at, end);
        again.push(i);
        at += 1;
        continue;
      }
      at = end;
    }
    at += 1;
  }
  const status = new Int32Array(rels.length);
  lstat(rootFd, joined, at, rels.length, status, out.flags, out.size, out.mtimeMs, out.ino, out.dev);
  for (let i = 0; i < rels.length; i++) if (status[i]! > 0) again.push(i);
  return again.length > 1 ? again.sort((a, b) => a - b) : again;
}

type List = (fd: number, names: Buffer, cap: number, types: Uint8Array, max: number, info: BigInt64Array) => number;
let madeList: List | null | undefined;
/** What native/io-batch.c's vd_list must say of itself (its types as walk-list.ts's). */
const LIST_VERSION = 1;
/** Room for a folder's names, and how many: one with more is listed the caller's way. */
const LIST_BYTES = 1 << 20;
const LIST_MAX = 1 << 16;
let listNames: Buffer | undefined;
let listTypes: Uint8Array | undefined;
const listInfo = new BigInt64Array(1);

/**
 * This thread's listing of a folder open on `fd` (readable, not O_PATH, and read by no other thread
 * meanwhile: the listing moves the descriptor's position) in one C call: its names
 * (unsorted) and their types as walk-list.ts gives them. Undefined where it cannot be made, or
 * for a folder it cannot list whole (an error, more names than it holds, an entry without its
 * type, a name that is not UTF-8): the caller lists it its own way, which gives the error.
 */
export function listFolder(): ((fd: number) => { names: string[]; types: Uint8Array } | undefined) | undefined {
  if (madeList === undefined) madeList = loadList();
  const list = madeList;
  if (!list) return undefined;
  return (fd) => {
    const names = (listNames ??= Buffer.allocUnsafe(LIST_BYTES));
    const types = (listTypes ??= new Uint8Array(LIST_MAX));
    const n = list(fd, names, LIST_BYTES, types, LIST_MAX, listInfo);
    if (n < 0) return undefined;
    // One decoding for the whole folder; a name that is not UTF-8 decodes with U+FFFD, and such a
    // folder is listed the caller's way (names.ts escapes those names from their bytes).
    const text = names.toString('utf8', 0, Number(listInfo[0]));
    if (text.includes('\uFFFD')) return undefined;
    const all = text.split('\0');
    all.length = n;
    return { names: all, types: types.slice(0, n) };
  };
}

function loadList(): List | null {
  const lib = library();
  if (!lib) return null;
  try {
    if (lib.func('int vd_list_version(void)')() !== LIST_VERSION) return null;
    return lib.func('int vd_list(int, uint8_t *, int64_t, uint8_t *, int, int64_t *)') as List;
  } catch {
    return null; // a library built before vd_list
  }
}

/** The library, loaded once per thread, or null where it cannot be used. */
let lib: ReturnType<NonNullable<ReturnType<typeof libc>>['koffi']['load']> | null | undefined;
function library(): typeof lib {
  if (lib !== undefined) return lib;
  const c = libc();
  lib = null;
  if (!c || !beneath() || process.env.SD_IO_BATCH === 'off' || !existsSync(IO_BATCH_LIBRARY)) return lib;
  try {
    lib = c.koffi.load(IO_BATCH_LIBRARY);
  } catch {
    lib = null;
  }
  return lib;
}

function load(): ReadBatch | null {
  const lib = library();
  if (!lib) return null;
  try {
    // A library built from another version of the C file (its slots, limits or samples differ) is not used.
    const built = new BigInt64Array(LAYOUT.length);
    lib.func('void vd_layout(int64_t *)')(built);
    if (built.some((v, i) => v !== BigInt(LAYOUT[i]!))) return null;
    return lib.func('int vd_read_batch(int, const uint8_t *, int, uint8_t *, int64_t, int64_t *)') as ReadBatch;
  } catch {
    return null;
  }
}

const NUL = Buffer.alloc(1);

function readBelow(read: ReadBatch, dirFd: number, rels: ReadonlyArray<string | Buffer | undefined>): BatchRead {
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
  const slot = (k: number): number => Number(meta[m + k]);
  return {
    file(i) {
      const place = places[i]!;
      if (place < 0) return false;
      if (place < from || place >= to) {
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
      }
      m = place * META;
      return slot(M_STATUS) === 0;
    },
    prefixed: () => b.subarray(slot(M_OFF), slot(M_OFF) + SIZE_PREFIX + slot(M_LEN)),
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
