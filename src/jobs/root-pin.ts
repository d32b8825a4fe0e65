// A location's root as an index job found it (its device and inode), and the root's descriptor
// opened again by path for each batch: each open must find the folder the job began with, or the
// job ends with E_LOCATION_CHANGED and nothing more is read. Someone who can write in the folder
// above a location could otherwise put another folder, or a symlink to one, at its path between
// a first index's walk and its hashing, and that folder's files would be indexed under the
// location's names.
import { constants as C, closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { SdError } from '../errors.js';

const O_CLOEXEC = 0o2000000;

/** A location's root as a job found it: the folder every later open of its path must still be. */
export interface RootPin {
  dev: bigint;
  ino: bigint;
}

/** The folder at `root` now (through a symlink, as a root is opened), or undefined where there is none. */
export function rootPin(root: string | Buffer): RootPin | undefined {
  try {
    const st = statSync(root, { bigint: true, throwIfNoEntry: false });
    return st?.isDirectory() ? { dev: st.dev, ino: st.ino } : undefined;
  } catch {
    return undefined; // opening it says why
  }
}

/** The folder open on `fd`, as a pin. */
export function pinOf(fd: number): RootPin {
  const st = fstatSync(fd, { bigint: true });
  return { dev: st.dev, ino: st.ino };
}

/**
 * A folder's descriptor to open below (read-only, close-on-exec); the caller closes it. With
 * `pin`, the folder must be the one pinned: a location's root opened again by path for each batch
 * of a job could otherwise be another folder, or a symlink's target, swapped in at its path by
 * someone who can write in the folder above it (E_LOCATION_CHANGED, never read).
 */
export function openRoot(root: string | Buffer, pin?: RootPin): number {
  const fd = openSync(root, C.O_RDONLY | C.O_DIRECTORY | O_CLOEXEC);
  if (!pin) return fd;
  let now: RootPin;
  try {
    now = pinOf(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (samePin(now, pin)) return fd;
  closeSync(fd);
  throw locationChanged(root);
}

/**
 * openRoot of a location for a walk: a root that cannot be opened is the location's error
 * (E_LOCATION_UNREADABLE), never a reason to go by its path instead.
 */
export function openLocationRoot(root: string | Buffer, pin: RootPin | undefined): number {
  try {
    return openRoot(root, pin);
  } catch (e) {
    if (e instanceof SdError) throw e;
    throw new SdError('E_LOCATION_UNREADABLE', `the location ${String(root)} cannot be read: ${(e as Error).message}`);
  }
}

const samePin = (a: RootPin, b: RootPin): boolean => a.dev === b.dev && a.ino === b.ino;

/**
 * Where nothing below a root is opened from its descriptor (no openat2): that the folder at its
 * path is still the one pinned, as openRoot checks (a narrower window than none).
 */
export function checkPin(root: string | Buffer, pin: RootPin | undefined): void {
  if (!pin) return;
  const now = rootPin(root);
  if (!now || !samePin(now, pin)) throw locationChanged(root);
}

/** Whether a batch's results say its location's folder was not the one pinned (openRoot). */
export const changedIn = (codes: Iterable<string>): boolean => {
  for (const c of codes) if (c === 'E_LOCATION_CHANGED') return true;
  return false;
};

/** The job's error when the folder at its location's path is not the one it began with. */
export function locationChanged(root: string | Buffer): SdError {
  return new SdError(
    'E_LOCATION_CHANGED',
    `the folder at ${String(root)} is not the one this index job began with (another folder, or a symlink to one, was put at its path): nothing more was read from it; if it is the folder you mean, run \`sd location rescan '${String(root)}' --adopt\``,
  );
}

export { closeSync as closeRoot };
