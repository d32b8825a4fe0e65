// Confinement at the moment of acting. A step never acts through a path string: the folders
// from the location root down to the step's folder are opened one name at a time with
// O_DIRECTORY | O_NOFOLLOW, each through the folder above it, and the step acts on a name inside
// the last one, held open. On Linux a held folder is reached as /proc/self/fd/N, which the kernel
// resolves to the open folder itself, so a symlink swapped in anywhere on the path after the
// check cannot redirect the step: the openat/renameat/unlinkat of C, which Node lacks. Without
// /proc the same checks run on the path right before each system call (README, threat model).
import { closeSync, constants as C, existsSync, lstatSync, openSync, type Stats } from 'node:fs';
import { SdError } from '../../errors.js';
import { decodeName, encodeName, fsPathOfAbs, isEscapedName } from '../../jobs/names.js';
import { codeOf } from '../../error-codes.js';

export const VIA_FD = process.platform === 'linux' && existsSync('/proc/self/fd');
const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/** A name in string form (names.ts) or as raw bytes. */
export type Name = string | Buffer;

const rawName = (n: Name): string | Buffer => (typeof n === 'string' ? (isEscapedName(n) ? decodeName(n) : n) : n);
export const shownName = (n: Name): string => (typeof n === 'string' ? n : encodeName(n));

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** Every filesystem error as an E_ code with a sentence naming the path (in its string form). */
export function fsError(e: unknown, path: string): Error {
  if (e instanceof SdError) return e;
  const code = errno(e);
  const why = (e as Error)?.message?.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '') ?? String(e);
  const map: Record<string, [string, string]> = {
    ENOENT: ['E_PATH_NOT_FOUND', `${path} does not exist (any more)`],
    EACCES: ['E_PERMISSION_DENIED', `permission denied on ${path}`],
    EPERM: ['E_PERMISSION_DENIED', `the operation is not permitted on ${path}`],
    ENOSPC: ['E_DISK_FULL', `the disk holding ${path} is full`],
    EDQUOT: ['E_DISK_FULL', `the disk quota is exhausted for ${path}`],
    ENAMETOOLONG: ['E_NAME_TOO_LONG', `a name or the whole path is too long: ${path}`],
    EEXIST: ['E_DEST_EXISTS', `${path} already exists`],
    ENOTEMPTY: ['E_DEST_EXISTS', `${path} already exists and is not empty`],
    ELOOP: ['E_PATH_CHANGED', `${path} is (now) a symlink; nothing was done through it`],
    ENOTDIR: ['E_PATH_CHANGED', `a folder on the way to ${path} is (now) not a folder or is a symlink`],
    EISDIR: ['E_PATH_CHANGED', `${path} is (now) a folder`],
    EXDEV: ['E_CROSS_DEVICE', `${path} is on another filesystem`],
    EROFS: ['E_READ_ONLY', `${path} is on a read-only filesystem`],
    EBUSY: ['E_BUSY', `${path} is busy (a mount point, or in use)`],
    EMFILE: ['E_TOO_MANY_OPEN_FILES', `too many open files while working on ${path}`],
    ENFILE: ['E_TOO_MANY_OPEN_FILES', `too many open files while working on ${path}`],
    EIO: ['E_IO', `input/output error on ${path}`],
    EINVAL: ['E_BAD_PATH', `${path} is not valid here`],
  };
  const hit = code ? map[code] : undefined;
  if (hit) return new SdError(codeOf(hit[0], 'E_FS'), hit[1], { path, errno: code });
  return new SdError('E_FS', `${path}: ${why}`, { path, errno: code ?? null });
}

/** A folder held open; steps act on names inside it. */
export class Dir {
  private constructor(
    readonly fd: number,
    /** The folder's path in string form, for messages. */
    readonly shown: string,
    /** How a name inside is reached: /proc/self/fd/N, or the folder's own path without /proc. */
    readonly base: string | Buffer,
  ) {}

  /** Opens a location root (trusted as far as its own path; below it nothing is). */
  static root(path: string | Buffer, shown: string): Dir {
    let fd: number;
    try {
      fd = openSync(path, DIR_FLAGS);
    } catch (e) {
      throw fsError(e, shown);
    }
    return new Dir(fd, shown, VIA_FD ? `/proc/self/fd/${fd}` : path);
  }

  /** The fs path of a name inside this folder. */
  at(name: Name): string | Buffer {
    const r = rawName(name);
    if (typeof r === 'string' && typeof this.base === 'string') return `${this.base}/${r}`;
    return Buffer.concat([Buffer.from(this.base), Buffer.from('/'), Buffer.from(r)]);
  }

  show(name: Name): string {
    return `${this.shown}/${shownName(name)}`;
  }

  lstat(name: Name): Stats | undefined {
    try {
      return lstatSync(this.at(name), { throwIfNoEntry: false });
    } catch (e) {
      throw fsError(e, this.show(name));
    }
  }

  /** A sub folder, never reached through a symlink: E_PATH_CHANGED if the name is not a real folder. */
  open(name: Name): Dir {
    let fd: number;
    try {
      fd = openSync(this.at(name), DIR_FLAGS);
    } catch (e) {
      const c = errno(e);
      if (c === 'ELOOP' || c === 'ENOTDIR')
        throw new SdError(
          'E_PATH_CHANGED',
          `${this.show(name)} is not a folder any more (a symlink or a file took its place); nothing was done`,
          {
            path: this.show(name),
          },
        );
      throw fsError(e, this.show(name));
    }
    const shown = this.show(name);
    return new Dir(fd, shown, VIA_FD ? `/proc/self/fd/${fd}` : this.at(name));
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

export const isInsidePath = (child: string, parent: string): boolean =>
  child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);

/**
 * Opens the folder holding `abs` (a path in string form inside the location root `root`), every
 * folder below the root checked on the way; the caller closes it.
 */
export function holdParent(root: string, abs: string): { dir: Dir; name: string } {
  if (abs === root || !isInsidePath(abs, root))
    throw new SdError('E_PATH_OUTSIDE_LOCATION', `${abs} is not below the location root ${root}`, { path: abs });
  const names = abs.slice(root.length + (root.endsWith('/') ? 0 : 1)).split('/');
  const name = names.pop()!;
  let dir = Dir.root(fsPathOfAbs(root), root);
  try {
    for (const n of names) {
      const next = dir.open(n);
      dir.close();
      dir = next;
    }
  } catch (e) {
    dir.close();
    throw e;
  }
  return { dir, name };
}

/** Runs fn with the folder holding `abs` held open (see holdParent). */
export function withParent<T>(root: string, abs: string, fn: (dir: Dir, name: string) => T): T {
  const { dir, name } = holdParent(root, abs);
  try {
    return fn(dir, name);
  } finally {
    dir.close();
  }
}

export async function withParentAsync<T>(
  root: string,
  abs: string,
  fn: (dir: Dir, name: string) => Promise<T>,
): Promise<T> {
  const { dir, name } = holdParent(root, abs);
  try {
    return await fn(dir, name);
  } finally {
    dir.close();
  }
}
