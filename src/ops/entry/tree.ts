// Whole trees through held folders (confine.ts): listed, compared, copied and removed without
// following a symlink anywhere and without opening a named pipe, socket or device. Names are raw
// bytes (Buffers) below the top, so any name the filesystem allows works.
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
  readdirSync,
  readlinkSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  type Dirent,
  type Stats,
} from 'node:fs';
import { SdError } from '../../errors.js';
import { kindOf, specialKindOf } from '../../jobs/kind.js';
import { encodeName } from '../../jobs/names.js';
import { Dir, VIA_FD, fsError, shownName, type Name } from './confine.js';
import { hashFiles } from './hashing.js';

/** [relPath ('' = the root), t (0 file, 1 folder, 2 symlink, 3 special), size, mtimeMs, contentId | null, kind] */
export type Item = [string, number, number, number, string | null, string];

const SPECIAL = 3;

/** The entries of a held folder, raw names sorted by their string form (a stable plan order). */
function list(d: Dir): Dirent<Buffer>[] {
  try {
    const out = readdirSync(d.base, { withFileTypes: true, encoding: 'buffer' });
    const key = new Map(out.map((e) => [e, encodeName(e.name)]));
    return out.sort((a, b) => (key.get(a)! < key.get(b)! ? -1 : key.get(a)! > key.get(b)! ? 1 : 0));
  } catch (e) {
    throw fsError(e, d.shown);
  }
}

const typeOf = (st: Stats): number => (st.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : st.isFile() ? 0 : SPECIAL);

function itemOf(rel: string, name: Name, st: Stats): Item {
  const t = typeOf(st);
  const kind = t === 1 ? 'folder' : t === 2 ? 'symlink' : t === SPECIAL ? specialKindOf(st)! : kindOf(shownName(name));
  return [rel, t, t === 0 ? st.size : 0, Math.floor(st.mtimeMs), null, kind];
}

/**
 * Every entry of a tree (the named entry and, for a folder, everything below it), with content
 * ids when `hash` (computed on the hashing threads, through the held folders). A file that
 * cannot be read is an error naming it.
 */
export async function scanTree(parent: Dir, name: Name, hash: boolean): Promise<Item[]> {
  const st = parent.lstat(name);
  if (!st)
    throw new SdError('E_PATH_NOT_FOUND', `${parent.show(name)} does not exist (any more)`, {
      path: parent.show(name),
    });
  const items: Item[] = [itemOf('', name, st)];
  const pending: { idx: number; path: string | Buffer; shown: string }[] = [];
  const retained = new Set<Dir>();
  const onStack = new Set<Dir>();
  const flush = async (): Promise<void> => {
    const res = await hashFiles(pending.map((p) => p.path));
    res.forEach((r, i) => {
      const p = pending[i]!;
      if ('error' in r)
        throw r.error.code.startsWith('E_')
          ? new SdError(r.error.code, `${p.shown}: ${r.error.message}`, { path: p.shown })
          : fsError(Object.assign(new Error(r.error.message), { code: r.error.code }), p.shown);
      const it = items[p.idx]!;
      it[2] = r.size;
      it[4] = r.contentId;
      it[5] = r.kind === 'other' ? it[5] : r.kind;
    });
    pending.length = 0;
    for (const d of retained)
      if (!onStack.has(d)) {
        d.close();
        retained.delete(d);
      }
  };
  if (hash && items[0]![1] === 0) pending.push({ idx: 0, path: parent.at(name), shown: parent.show(name) });
  const visit = async (d: Dir, rel: string): Promise<void> => {
    onStack.add(d);
    for (const e of list(d)) {
      const s = d.lstat(e.name);
      if (!s) continue; // vanished while listed
      const r = `${rel}${rel ? '/' : ''}${encodeName(e.name)}`;
      const it = itemOf(r, e.name, s);
      items.push(it);
      if (it[1] === 0 && hash) {
        pending.push({ idx: items.length - 1, path: d.at(e.name), shown: d.show(e.name) });
        retained.add(d);
      } else if (it[1] === 1) {
        const sub = d.open(e.name);
        try {
          await visit(sub, r);
        } catch (err) {
          sub.close();
          throw err;
        }
      }
      if (pending.length >= 512 || retained.size >= 256) await flush();
    }
    onStack.delete(d);
    if (!retained.has(d)) d.close();
  };
  try {
    if (items[0]![1] === 1) await visit(parent.open(name), '');
    if (pending.length) await flush();
  } finally {
    for (const d of retained) d.close();
  }
  return items;
}

/** Files and bytes of a manifest's items. */
export function totals(items: Item[]): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const i of items)
    if (i[1] === 0) {
      files++;
      bytes += i[2];
    }
  return { files, bytes };
}

/** Differences between expected items and the tree now, as sentences naming the paths. */
export async function compareTree(parent: Dir, name: Name, want: Item[]): Promise<string[]> {
  const root = parent.show(name);
  let have: Item[];
  try {
    have = await scanTree(
      parent,
      name,
      want.some((i) => i[4] !== null),
    );
  } catch (e) {
    return [e instanceof Error ? e.message : String(e)];
  }
  const byRel = new Map(have.map((i) => [i[0], i]));
  const out: string[] = [];
  for (const [rel, t, size, , cid] of want) {
    if (t === SPECIAL) continue; // never copied, never read
    const p = rel === '' ? root : `${root}/${rel}`;
    const h = byRel.get(rel);
    if (!h) out.push(`${p} is missing`);
    else if (h[1] !== t) out.push(`${p} is no longer a ${['file', 'folder', 'symlink'][t]}`);
    else if (t === 0 && h[2] !== size) out.push(`${p} has ${h[2]} bytes, expected ${size}`);
    else if (t === 0 && cid && h[4] !== cid) out.push(`${p} has different content (content id changed)`);
  }
  return out;
}

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
    for (const e of list(d)) {
      const dir = e.isDirectory() || (!knownType(e) && !!d.lstat(e.name)?.isDirectory());
      if (dir) removeTree(d, e.name);
      else
        try {
          unlinkSync(d.at(e.name));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, d.show(e.name));
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

const knownType = (e: Dirent<Buffer>): boolean =>
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
