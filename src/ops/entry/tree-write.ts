// Trees written through held folders (confine.ts): removed and copied without following a
// symlink anywhere and without opening a named pipe, socket or device.
import {
  constants as C,
  closeSync,
  copyFileSync,
  fchmodSync,
  fstatSync,
  futimesSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  type Dirent,
} from 'node:fs';
import { SdError } from '../../errors.js';
import { Dir, VIA_FD, fsError, type Name } from './confine.js';
import { list } from './tree.js';

/** Removes a file, link or whole folder inside a held folder; links are removed, never followed. */
export function removeTree(parent: Dir, name: Name): void {
  const st = parent.lstat(name);
  if (!st) return;
  try {
    if (!st.isDirectory()) return unlinkSync(parent.at(name));
  } catch (e) {
    throw fsError(e, parent.show(name));
  }
  const d = parent.open(name);
  try {
    for (const { name: n, dirent: e } of list(d)) {
      const dir = e.isDirectory() || (!knownType(e) && !!d.lstat(n)?.isDirectory());
      if (dir) removeTree(d, n);
      else
        try {
          unlinkSync(d.at(n));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, d.show(n));
        }
    }
  } finally {
    d.close();
  }
  try {
    rmdirSync(parent.at(name));
  } catch (e) {
    throw fsError(e, parent.show(name));
  }
}

const knownType = (e: Dirent<string> | Dirent<Buffer>): boolean =>
  e.isFile() ||
  e.isDirectory() ||
  e.isSymbolicLink() ||
  e.isFIFO() ||
  e.isSocket() ||
  e.isBlockDevice() ||
  e.isCharacterDevice();

/**
 * Copies a tree into a held folder under a new name that must not exist. Regular files are
 * opened non-blocking without following links and checked to be regular before they are read;
 * symlinks are copied as links; named pipes, sockets and devices are skipped (returned).
 */
export function copyTree(
  src: Dir,
  sname: Name,
  dst: Dir,
  dname: Name,
  times: boolean,
  skipped: string[] = [],
): string[] {
  const st = src.lstat(sname);
  if (!st)
    throw new SdError('E_PATH_NOT_FOUND', `${src.show(sname)} does not exist (any more)`, { path: src.show(sname) });
  const to = dst.at(dname);
  try {
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(src.at(sname), { encoding: 'buffer' }), to);
      if (times) lutimesSync(to, st.atime, st.mtime);
    } else if (st.isDirectory()) {
      mkdirSync(to, 0o700);
      const sd = src.open(sname);
      let dd: Dir | undefined;
      try {
        dd = dst.open(dname);
        for (const e of list(sd)) copyTree(sd, e.name, dd, e.name, times, skipped);
        fchmodSync(dd.fd, st.mode & 0o7777);
        if (times) futimesSync(dd.fd, st.atime, st.mtime);
      } finally {
        sd.close();
        dd?.close();
      }
    } else if (st.isFile()) copyFile(src, sname, to, times);
    else skipped.push(src.show(sname));
  } catch (e) {
    throw fsError(e, e instanceof SdError ? '' : dst.show(dname));
  }
  return skipped;
}

function copyFile(src: Dir, sname: Name, to: string | Buffer, times: boolean): void {
  let fd: number;
  try {
    fd = openSync(src.at(sname), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    throw fsError(e, src.show(sname));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new SdError('E_PATH_CHANGED', `${src.show(sname)} is no longer a regular file; it was not read`, {
        path: src.show(sname),
      });
    // The open file itself is copied (its /proc/self/fd link), not whatever the name points at now.
    copyFileSync(VIA_FD ? `/proc/self/fd/${fd}` : src.at(sname), to, C.COPYFILE_EXCL);
    if (times) lutimesSync(to, st.atime, st.mtime);
  } finally {
    closeSync(fd);
  }
}
