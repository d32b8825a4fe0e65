// Opening and lstat'ing a location's files beneath its root without following any symlink on the
// way, for the hashing threads. A path opened by name is resolved again at each call: a folder
// swapped for a symlink between the walk and the hashing (a local user who can write in the
// location can do that at any moment) made a first index, or an identify phase, read the file
// the link points to, outside the location, and record its content id, size and times under the
// inside name, for every paired device to see. Linux's openat2(2) (5.6+) with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS resolves the whole relative path from the root's descriptor in one call
// and refuses a symlink anywhere on it (ELOOP), the last name included.
// Where openat2 cannot be called (koffi or glibc missing, a kernel before 5.6, a sandbox that
// refuses it: ENOSYS), `beneath()` is undefined and callers open by path, as before.
import { constants as C, closeSync, existsSync } from 'node:fs';
import { openRoot } from './root-pin.js';
import { constants as os, endianness } from 'node:os';
import { libc, libcFunction } from '../native/libc.js';
import { statError, StatError, fastLstatAt, type RawStat } from './statx.js';
import { decodeName, ESCAPE_MARK } from './names.js';
import { SEP } from '../projections/entries.js';

const SEPS = new RegExp(SEP, 'g');
/** openat2 in the generic system call table, which x86-64 shares from 5.6 on. */
const SYS_OPENAT2 = 437;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const { ENOENT, ELOOP, ENOTDIR, EINTR } = os.errno;
const TRIES = 100;

export interface Beneath {
  /** A descriptor of `rel` below the folder `dirFd` is open on, with `flags`; throws StatError. */
  open(dirFd: number, rel: string | Buffer, flags: number): number;
  /**
   * lstat of `rel` below `dirFd` into `out`, its folders resolved without following a symlink:
   * false when it does not exist. A folder on its way that is now a symlink or a file is
   * `E_PATH_CHANGED` (never followed), as it is for a file operation.
   */
  lstat(dirFd: number, rel: string | Buffer, out: RawStat): boolean;
  /**
   * The folder `rel` below `dirFd`, opened for listing, and the path to list it through: its
   * descriptor's entry in /proc, which names the folder opened, never one swapped in since. A
   * folder on the way or the folder itself that is now a symlink or a file is E_PATH_CHANGED.
   * Close the descriptor with `close`. Undefined where /proc is not mounted.
   */
  openFolder?(dirFd: number, rel: string | Buffer): { fd: number; path: string };
  /**
   * lstat of names in one folder at a time below `dirFd` (a walk's entries, in walk order): each
   * run of entries in the same folder opens that folder once (O_PATH, no symlink followed on the
   * way), then `statx`es each name in it. `stat(i, lstat)` is called for each `rels[i]` (`rels`
   * undefined at i: skipped), with the lstat to make (false: vanished; throws StatError).
   */
  eachIn(
    dirFd: number,
    rels: ReadonlyArray<string | Buffer | undefined>,
    stat: (i: number, lstat: (out: RawStat) => boolean) => void,
  ): void;
  close(fd: number): void;
}

let made: Beneath | null | undefined;

/** This thread's openat2 calls, or undefined where they cannot be made (callers open by path). */
export function beneath(): Beneath | undefined {
  if (made === undefined) made = make();
  return made ?? undefined;
}

// The root's descriptor and its pin live in root-pin.ts; callers of this module find them here too.
export {
  changedIn,
  checkPin,
  closeRoot,
  locationChanged,
  openLocationRoot,
  openRoot,
  pinOf,
  rootPin,
  type RootPin,
} from './root-pin.js';

/**
 * A '/'-separated relative path from an entry key (names separated by SEP, in the walk's string
 * form): a string when every name is plain, the raw bytes when any name is escaped.
 */
export function relOfKey(key: string): string | Buffer {
  // A key names entries below the root: never the root, a '.' or '..' step, or a name holding NUL
  // (or '/': a key separates names with SEP). Checked on the key as it is, for the common key.
  if (BAD_STEP.test(key) || key.includes('\0') || key.includes('/')) throw badKey(key);
  const rel = key.replace(SEPS, '/');
  if (!rel.includes(ESCAPE_MARK)) return rel;
  // An escaped name is checked as the bytes it stands for.
  const raw = rel.split('/').map(decodeName);
  for (const b of raw) {
    const n = b.toString('latin1');
    if (n === '' || n === '.' || n === '..' || n.includes('/') || n.includes('\0')) throw badKey(key);
  }
  return Buffer.concat(raw.flatMap((b, i) => (i === 0 ? [b] : [Buffer.from('/'), b])));
}

/** An empty, '.' or '..' name in a key (names separated by SEP). */
const BAD_STEP = new RegExp(`(^|${SEP})\\.{0,2}(${SEP}|$)`);
const badKey = (key: string): StatError =>
  new StatError('E_BAD_PATH', `E_BAD_PATH: ${JSON.stringify(key)} does not name an entry below the location`);

function make(): Beneath | null {
  const c = libc();
  const lstatAt = fastLstatAt();
  if (!c || !lstatAt || !['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64'].includes(process.arch)) return null;
  const byName = libcFunction('long syscall(long, int, const char *, const void *, unsigned long)');
  const byBytes = libcFunction('long syscall(long, int, const uint8_t *, const void *, unsigned long)');
  // Descriptors opened here are closed here: Node's closeSync warns in a worker thread for one it did not open.
  const close = libcFunction('int close(int)');
  if (!byName || !byBytes || !close) return null;
  // struct open_how { u64 flags; u64 mode; u64 resolve; }
  const how = new Uint8Array(24);
  const v = new DataView(how.buffer);
  // In the machine's own byte order, as the kernel reads the struct.
  const le = endianness() === 'LE';
  v.setBigUint64(16, BigInt(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), le);
  const ZERO = Buffer.alloc(1);
  const SLASH = 0x2f;

  let set = -1;
  const raw = (dirFd: number, rel: string | Buffer, flags: number): number => {
    if (flags !== set) v.setBigUint64(0, BigInt((set = flags) | O_CLOEXEC), le);
    const p = typeof rel === 'string' ? rel : Buffer.concat([rel, ZERO]);
    // An open a signal interrupts is made again (bounded), as file-io.ts makes its own.
    for (let tries = 1; ; tries++) {
      const fd =
        typeof p === 'string' ? byName(SYS_OPENAT2, dirFd, p, how, 24) : byBytes(SYS_OPENAT2, dirFd, p, how, 24);
      if (fd >= 0) return fd;
      const errno = c.koffi.errno();
      if (errno !== EINTR || tries === TRIES) return -errno;
    }
  };
  const refuseNul = (rel: string | Buffer): void => {
    if (typeof rel === 'string' ? rel.includes('\0') : rel.includes(0))
      throw new StatError(
        'ERR_INVALID_ARG_VALUE',
        `a path with a NUL byte cannot be opened: ${JSON.stringify(String(rel))}`,
      );
  };

  /** A last name of '.' or '..' names no entry of its folder (it would be the folder, or the one above). */
  const refuseDots = (name: string | Buffer, rel: string | Buffer): void => {
    const dots = typeof name === 'string' ? name === '.' || name === '..' : /^\.\.?$/.test(name.toString('latin1'));
    if (dots)
      throw new StatError('E_BAD_PATH', `E_BAD_PATH: ${JSON.stringify(String(rel))} names no entry of its folder`);
  };
  const split = (rel: string | Buffer): [string | Buffer, string | Buffer] | undefined => {
    const cut = typeof rel === 'string' ? rel.lastIndexOf('/') : rel.lastIndexOf(SLASH);
    if (cut < 0) return undefined;
    return typeof rel === 'string'
      ? [rel.slice(0, cut), rel.slice(cut + 1)]
      : [rel.subarray(0, cut), rel.subarray(cut + 1)];
  };
  /**
   * The folder `dir` opened (for lstat, O_PATH, unless `flags` say otherwise), or -errno; it or a
   * folder above it that is now a symlink or a file is E_PATH_CHANGED.
   */
  const folderOf = (dirFd: number, dir: string | Buffer, flags = O_PATH | C.O_DIRECTORY): number => {
    const fd = raw(dirFd, dir, flags);
    if (fd === -ELOOP || fd === -ENOTDIR)
      throw new StatError(
        'E_PATH_CHANGED',
        `E_PATH_CHANGED: the folder '${String(dir)}' (or one above it) is no longer a folder: now a file, or a symlink, which is never followed`,
      );
    return fd;
  };

  const open = (dirFd: number, rel: string | Buffer, flags: number): number => {
    refuseNul(rel);
    const fd = raw(dirFd, rel, flags);
    if (fd >= 0) return fd;
    // A symlink on the way: the file itself (its lstat then says so), or a folder above it.
    const parts = fd === -ELOOP || fd === -ENOTDIR ? split(rel) : undefined;
    if (parts) {
      const dir = folderOf(dirFd, parts[0]);
      if (dir >= 0) close(dir);
    }
    throw statError(-fd, `open '${String(rel)}'`);
  };

  const openFolder = (dirFd: number, rel: string | Buffer): { fd: number; path: string } => {
    refuseNul(rel);
    const at = folderOf(dirFd, rel, C.O_RDONLY | C.O_DIRECTORY);
    if (at < 0) throw statError(-at, `scandir '${String(rel)}'`);
    return { fd: at, path: `/proc/self/fd/${at}` };
  };

  const eachIn: Beneath['eachIn'] = (dirFd, rels, stat) => {
    let dir: string | Buffer | undefined;
    let fd = -1;
    let failed: unknown;
    let gen = 0;
    const same = (a: string | Buffer, b: string | Buffer | undefined): boolean =>
      typeof a === 'string' ? a === b : b !== undefined && typeof b !== 'string' && a.equals(b);
    try {
      for (let i = 0; i < rels.length; i++) {
        const rel = rels[i];
        if (rel === undefined) continue;
        const parts = split(rel);
        if (!parts) {
          stat(i, (out) => (refuseNul(rel), refuseDots(rel, rel), lstatAt(dirFd, rel, out)));
          continue;
        }
        if (!same(parts[0], dir)) {
          if (fd >= 0) close(fd);
          dir = parts[0];
          fd = -1;
          failed = undefined;
          try {
            refuseNul(dir);
            fd = folderOf(dirFd, dir);
          } catch (e) {
            failed = e;
          }
        }
        const at = fd;
        const err = failed;
        const mine = ++gen;
        stat(i, (out) => {
          // Only while its folder is the one open: a descriptor number is reused once closed.
          if (mine !== gen) throw new Error('a lstat of eachIn called after its turn');
          if (err !== undefined) throw err;
          // Its folder could not be opened (but is not missing): the error names this entry.
          if (at < 0 && at !== -ENOENT) throw statError(-at, `lstat '${String(rel)}'`);
          return at >= 0 && (refuseNul(parts[1]), refuseDots(parts[1], rel), lstatAt(at, parts[1], out));
        });
      }
    } finally {
      gen++;
      if (fd >= 0) close(fd);
    }
  };

  /** One entry's lstat: eachIn of one. */
  const lstat = (dirFd: number, rel: string | Buffer, out: RawStat): boolean => {
    let found = false;
    eachIn(dirFd, [rel], (_, l) => (found = l(out)));
    return found;
  };

  // A kernel before 5.6, or a sandbox that refuses the call (ENOSYS, EPERM), says so on the first one.
  let probe = -1;
  try {
    probe = openRoot('/');
    const fd = raw(probe, '.', O_PATH | C.O_DIRECTORY);
    if (fd < 0) return null;
    close(fd);
  } catch {
    return null;
  } finally {
    if (probe >= 0) closeSync(probe);
  }
  const base = { open, lstat, eachIn, close: (fd: number): void => void close(fd) };
  return existsSync('/proc/self/fd') ? { ...base, openFolder } : base;
}
