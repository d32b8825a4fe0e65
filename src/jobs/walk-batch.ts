// What a walk reads of a location's folders in one C call each (native/walk-batch.c, in the library
// io-batch.ts loads): a batch's lstats below the root, and a folder's listing. Per entry, the
// calls through koffi (an openat2 per folder, a statx per entry) and Node's readdir (a Dirent per
// name) were most of a rescan's walking thread beside the kernel's own work. Whatever they cannot
// do whole is left to the caller's own way, which gives the error a user sees.
// Undefined where the library was not built (no C compiler), koffi is missing, or beneath() is.
import type { LstatColumns } from './hash-wire.js';
import { library } from './io-batch.js';

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

let madeLstat: LstatBatch | null | undefined;
/** What native/walk-batch.c's vd_lstat_batch must say of itself (its flags and statuses as here). */
const LSTAT_VERSION = 2;

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
  return versioned<LstatBatch>(
    'vd_lstat_version',
    LSTAT_VERSION,
    'int vd_lstat_batch(int, uint8_t *, int64_t, int, int32_t *, uint8_t *, double *, double *, uint64_t *, uint64_t *)',
  );
}

/**
 * A call of the library whose `version` function says `expected`, or null: a library built from
 * another version of native/walk-batch.c (or before the call was there) is not used for it.
 */
function versioned<T>(version: string, expected: number, signature: string): T | null {
  const lib = library();
  if (!lib) return null;
  try {
    if (lib.func(`int ${version}(void)`)() !== expected) return null;
    return lib.func(signature) as T;
  } catch {
    return null;
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
      // (`joined` is zeroed: the first NUL from `at` is at `end` unless the name holds one.)
      if (end === at || joined.indexOf(0, at) < end) {
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
/** What native/walk-batch.c's vd_list must say of itself (its types as walk-list.ts's). */
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
  return versioned<List>(
    'vd_list_version',
    LIST_VERSION,
    'int vd_list(int, uint8_t *, int64_t, uint8_t *, int, int64_t *)',
  );
}
