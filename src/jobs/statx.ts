// lstat() and fstat() through Linux's statx(2), called directly (koffi) into one reused buffer. Node's
// lstatSync builds a Stats object with four Date objects per call (BigInts too, for the exact
// inode and nanoseconds a walk needs); on /usr/lib (72,000 paths) that was 285-410 ms of CPU
// against 180-210 ms for statx into a buffer: the largest part of a rescan's walk thread.
// Same call underneath (libuv's lstat is statx with AT_SYMLINK_NOFOLLOW on Linux), same fields.
import { fstatSync, type BigIntStats } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { libc } from '../native/libc.js';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const STATX_BASIC_STATS = 0x7ff;
const ENOENT = 2;

/** What a walk reads of an lstat. */
export interface RawStat {
  mode: number;
  size: number;
  /** Nanoseconds since the epoch: exact, as Node's `mtimeNs`. */
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
}

/** An lstat that failed: the errno's name (as Node's `code`) and Node's sentence. */
export class StatError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Statx = (path: string | Buffer, out: RawStat) => boolean;
type Fstatx = (fd: number, out: RawStat) => void;
type StatxAt = (dirFd: number, name: string | Buffer, out: RawStat) => boolean;

let made: { lstat: Statx; fstat: Fstatx; lstatAt: StatxAt } | null | undefined;

/**
 * lstat of `path` into `out` (false when it does not exist); throws StatError as Node would.
 * Undefined when statx cannot be called here: the caller then uses Node's lstat.
 */
export function fastLstat(): Statx | undefined {
  if (made === undefined) made = make();
  return made?.lstat;
}

/**
 * fstat of an open descriptor into `out`, through the same call and decoding as fastLstat (so a
 * file's attributes read either way are the same numbers); throws StatError. Undefined where
 * statx cannot be called: the caller then uses Node's fstat.
 */
export function fastFstat(): Fstatx | undefined {
  if (made === undefined) made = make();
  return made?.fstat;
}

/** lstat of `name` in the folder `dirFd` is open on (beneath.ts), as fastLstat; undefined where statx cannot be called. */
export function fastLstatAt(): StatxAt | undefined {
  if (made === undefined) made = make();
  return made?.lstatAt;
}

/** fstat of `fd` into `out`: statx where it can be called, Node's fstat (the same numbers) otherwise. */
export function fstatInto(fd: number, out: RawStat): void {
  const fast = fastFstat();
  if (fast) return fast(fd, out);
  fromNodeStats(fstatSync(fd, { bigint: true }), out);
}

/** Node's exact (bigint) stats into `out`: the fallback where statx cannot be called. */
export function fromNodeStats(st: BigIntStats, out: RawStat): void {
  out.mode = Number(st.mode);
  out.size = Number(st.size);
  out.mtimeNs = st.mtimeNs;
  out.ino = st.ino;
  out.dev = st.dev;
}

function make(): { lstat: Statx; fstat: Fstatx; lstatAt: StatxAt } | null {
  const c = libc();
  if (!c || process.arch === 'ia32') return null;
  let byName: (...a: unknown[]) => number;
  let byBytes: (...a: unknown[]) => number;
  try {
    byName = c.lib.func('int statx(int, const char *, int, unsigned int, _Out_ uint8_t *)');
    byBytes = c.lib.func('int statx(int, const uint8_t *, int, unsigned int, _Out_ uint8_t *)');
  } catch {
    return null; // a C library without statx (glibc < 2.28)
  }
  const buf = new Uint8Array(256);
  const v = new DataView(buf.buffer);
  // struct statx: mode u16 @28, ino u64 @32, size u64 @40, mtime {i64 sec, u32 nsec} @112,
  // dev major/minor u32 @136/@140 (the layout is the same on every architecture).
  const decode = (out: RawStat): void => {
    out.mode = v.getUint16(28, true);
    out.ino = v.getBigUint64(32, true);
    out.size = v.getUint32(40, true) + v.getUint32(44, true) * 0x1_0000_0000;
    out.mtimeNs = v.getBigInt64(112, true) * 1_000_000_000n + BigInt(v.getUint32(120, true));
    out.dev = makedev(v.getUint32(136, true), v.getUint32(140, true));
  };
  const lstatAt: StatxAt = (dirFd, path, out) => {
    const rc =
      typeof path === 'string'
        ? byName(dirFd, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf)
        : byBytes(dirFd, Buffer.concat([path, ZERO]), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf);
    if (rc !== 0) {
      const errno = c.koffi.errno();
      if (errno === ENOENT) return false;
      throw statError(errno, `lstat '${String(path)}'`);
    }
    decode(out);
    return true;
  };
  const statx: Statx = (path, out) => lstatAt(AT_FDCWD, path, out);
  const fstat: Fstatx = (fd, out) => {
    if (byName(fd, '', AT_EMPTY_PATH, STATX_BASIC_STATS, buf) !== 0) throw statError(c.koffi.errno(), 'fstat');
    decode(out);
  };
  // A kernel without statx (before 4.11), or a sandbox that refuses it, says so on the first
  // call: Node's lstat then.
  try {
    return statx('/', { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n }) ? { lstat: statx, fstat, lstatAt } : null;
  } catch {
    return null;
  }
}

const ZERO = Buffer.alloc(1);

let errors: ReturnType<typeof getSystemErrorMap> | undefined;

/** Node's error for an errno: its name as the code, and Node's sentence naming the call. */
export function statError(errno: number, call: string): StatError {
  const [code, text] = (errors ??= getSystemErrorMap()).get(-errno) ?? [`E${errno}`, 'unknown error'];
  return new StatError(code, `${code}: ${text}, ${call}`);
}

/** glibc's makedev(): what Node reports as `dev` for the same major and minor. */
export function makedev(major: number, minor: number): bigint {
  const low = ((major & 0xfff) << 8) | (minor & 0xff);
  if (major < 0x1000 && minor < 0x100) return BigInt(low);
  return BigInt(low >>> 0) | (BigInt((minor & 0xffffff00) >>> 0) << 12n) | (BigInt((major & 0xfffff000) >>> 0) << 32n);
}
