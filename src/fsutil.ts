// Files that hold secrets or user data are created 0600 (dirs 0700) whatever the umask:
// the mode is set explicitly after creation instead of trusting the process umask.
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  lstatSync,
  readdirSync,
  realpathSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Writes a file atomically (temp + rename) with mode 0600. `durable: false` skips the fsync, for
 * caches whose loss in a power cut costs nothing (the rename still never leaves a torn file).
 */
export function writePrivateFile(path: string, data: string | Uint8Array, opts: { durable?: boolean } = {}): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (opts.durable !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

let savedUmask: number | undefined;

/**
 * The daemon runs with umask 077, so whatever it creates (databases, their WAL and SHM, logs) is
 * private from its first instant. Folders and files made *in locations* for the user still get
 * the user's own umask (userMode).
 */
export function usePrivateUmask(): void {
  const old = process.umask(0o077);
  savedUmask ??= old;
}

/** The mode a new folder (0o777) or file (0o666) made for the user gets under the user's umask. */
export function userMode(base: number): number {
  const mask = savedUmask ?? currentUmask();
  return base & ~mask;
}

function currentUmask(): number {
  const m = process.umask(0o022);
  process.umask(m);
  return m;
}

const dataDirs = new Set<string>();

/**
 * The data dirs open in this process (real paths): never indexed, never touched by a file
 * operation, never a location or inside one's index.
 */
export function registerDataDir(dir: string): () => void {
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    // not created yet: the given path
  }
  dataDirs.add(real);
  return () => dataDirs.delete(real);
}

export function openDataDirs(): string[] {
  return [...dataDirs];
}

/**
 * Files and folders a daemon of an older version (or another umask) left in the data dir are
 * made private: files 0600, folders 0700 (the data dir, libraries/, logs/ and what they hold).
 */
export function tightenDataDir(dataDir: string): void {
  const fix = (p: string, depth: number): void => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st || st.isSymbolicLink() || st.isSocket()) return;
    if (st.isDirectory()) {
      if ((st.mode & 0o777) !== 0o700) chmodSync(p, 0o700);
      if (depth > 0) for (const n of readdirSync(p)) fix(join(p, n), depth - 1);
    } else if (st.isFile() && (st.mode & 0o777) !== 0o600) chmodSync(p, 0o600);
  };
  fix(dataDir, 2);
}
