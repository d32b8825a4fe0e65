// The folders of one recursive inotify watch and their watch numbers, and the scan that watches
// a folder and then the folders it holds. The same code runs on the main thread (a small tree, a
// folder made while watched) and on a thread of its own (a large tree: watch-scan-worker.ts),
// which hands its numbers back when it is done. Each folder is watched before it is listed, so
// whatever is made in it afterwards is heard.
import { constants as C, lstatSync, readdirSync, statfsSync, statSync } from 'node:fs';
import { cPath, libcFunction } from '../../native/libc.js';
import { ruleSkipper } from '../../jobs/walk-rules.js';
import { fsPathOf, nameIn } from '../../jobs/names.js';

/** Folders watched at most (each holds a kernel watch); past it, deeper new folders go unwatched. */
export const MAX_WATCHED_DIRS = 100_000;

/** What a watch is asked to skip, as plain data (it crosses to the scanning thread). */
export interface WatchRules {
  skipNames: readonly string[];
  skipHidden: boolean;
  /** Relative paths below the location that are never watched (a data dir inside it). */
  excluded: readonly string[];
  /** The walk honours .gitignore files: a change to one is reported, though its name is hidden. */
  gitignore?: boolean;
}

/** The test of a relative path against a location's rules (both threads build it from the same data), as the walk's. */
export function skipperOf(rules: WatchRules): (rel: string) => boolean {
  const skipped = ruleSkipper(rules);
  const skip = (rel: string): boolean =>
    skipped(rel) || rules.excluded.some((x) => rel === x || rel.startsWith(`${x}/`));
  if (!rules.gitignore) return skip;
  // A .gitignore that changes rescans its folder (with it, what the folder holds may be ignored or not).
  return (rel) => {
    if (rel !== '.gitignore' && !rel.endsWith('/.gitignore')) return skip(rel);
    const dir = rel.slice(0, Math.max(0, rel.length - '/.gitignore'.length));
    return dir !== '' && skip(dir);
  };
}

/** The kernel side of a watch: add a folder's watch (its number, or the errno's name), let one go. */
export interface WatchOps {
  /** `path` as fsPathOf gives it: bytes where a name is not UTF-8. */
  add(path: string | Buffer, follow: boolean): number | string;
  remove(wd: number): void;
}

export const under = (rel: string, dir: string): boolean => dir === '' || rel === dir || rel.startsWith(`${dir}/`);

const DT_UNKNOWN = 0;
const DT_DIR = 4;
/** Linux's close-on-exec flag (not in Node's fs.constants): a program the daemon starts inherits no listing. */
const O_CLOEXEC = 0o2000000;
const LIST_FLAGS = C.O_RDONLY | C.O_DIRECTORY | O_CLOEXEC;
let sys:
  | {
      open: (path: string | Buffer, flags: number) => number;
      close: (fd: number) => number;
      getdents: (fd: number, buf: Buffer, size: number) => number;
    }
  | null
  | undefined;
const listing = Buffer.alloc(64 * 1024);

function loadSys(): typeof sys {
  const open = libcFunction('int open(const char *, int)');
  const close = libcFunction('int close(int)');
  const getdents = libcFunction('long getdents64(int, void *, size_t)');
  return open && close && getdents
    ? { open, close, getdents: (fd, buf, size) => Number(getdents(fd, buf, size)) }
    : null;
}

/**
 * The names of the folders (not symlinks) directly in `abs`; [] if it is gone. The kernel's
 * listing is read as it comes (getdents64) and only folders' names are decoded: Node's readdir
 * made an object and a string for each of a million files to find 50,000 folders.
 */
function subfolderNames(abs: string | Buffer, follow = false): string[] {
  if (sys === undefined) sys = loadSys();
  if (!sys) return nodeSubfolders(abs);
  // Gone, or no longer a folder: its parent's watch reports that.
  const fd = sys.open(cPath(abs), LIST_FLAGS | (follow ? 0 : C.O_NOFOLLOW));
  if (fd < 0) return [];
  const out: string[] = [];
  try {
    // Bounded by the folder: each call returns the next part of its listing, 0 at its end.
    for (;;) {
      const n = sys.getdents(fd, listing, listing.length);
      if (n <= 0) break;
      for (let off = 0; off < n;) {
        const size = listing.readUInt16LE(off + 16);
        const type = listing[off + 18];
        if (type === DT_DIR || type === DT_UNKNOWN) {
          const end = listing.indexOf(0, off + 19);
          const name = nameIn(listing, off + 19, end);
          if (name !== '.' && name !== '..' && (type === DT_DIR || isFolder(abs, listing.subarray(off + 19, end))))
            out.push(name);
        }
        off += size;
      }
    }
  } finally {
    sys.close(fd);
  }
  return out;
}

function isFolder(dir: string | Buffer, name: Buffer): boolean {
  try {
    return lstatSync(Buffer.concat([Buffer.from(dir), Buffer.from('/'), name])).isDirectory();
  } catch {
    return false;
  }
}

function nodeSubfolders(abs: string | Buffer): string[] {
  try {
    return readdirSync(abs, { withFileTypes: true, encoding: 'buffer' })
      .filter((d) => d.isDirectory())
      .map((d) => nameIn(d.name, 0, d.name.length));
  } catch {
    return [];
  }
}

/**
 * File systems whose folders count their subfolders in their link count (2 + subfolders), as
 * GNU find's leaf optimisation trusts: ext2/3/4, XFS, tmpfs. Btrfs reports 1, and a CIFS mount
 * may report 2 for any folder: neither is trusted, nor is any folder on another device.
 */
const COUNTS_SUBFOLDERS = new Set([0xef53, 0x58465342, 0x01021994]);

/** The device of `root` if its file system counts subfolders in a folder's links, else undefined. */
function countingDevice(root: string): bigint | undefined {
  try {
    if (!COUNTS_SUBFOLDERS.has(Number(statfsSync(root).type))) return undefined;
    return statSync(root, { bigint: true }).dev;
  } catch {
    return undefined; // gone: the scan reports the root's error
  }
}

export class WatchSet {
  readonly byWd = new Map<number, string>();
  readonly byRel = new Map<string, number>();
  /** The root's device when a folder's link count says it holds no folder (see COUNTS_SUBFOLDERS). */
  private readonly leafDev: bigint | undefined;

  /**
   * `shared`: the number of folders watched by every thread of one scan (Int32 0), so that
   * together they stop at MAX_WATCHED_DIRS (without it, this set's own size counts); and whether
   * the watch was closed (Int32 1: the scan stops at its next folder).
   */
  constructor(
    private readonly root: string,
    private readonly skip: (rel: string) => boolean,
    private readonly ops: WatchOps,
    private readonly shared?: Int32Array,
  ) {
    this.leafDev = countingDevice(root);
  }

  get size(): number {
    return this.byRel.size;
  }

  /**
   * Holds exactly `entries` (what other threads watched), and nothing else. A folder two threads
   * reached by two paths (moved while they listed) has one watch: the path loaded last keeps it.
   */
  load(entries: readonly (readonly [string, number])[]): void {
    this.byRel.clear();
    this.byWd.clear();
    for (const [rel, wd] of entries) {
      this.byRel.set(rel, wd);
      this.byWd.set(wd, rel);
    }
    for (const [rel, wd] of this.byRel) if (this.byWd.get(wd) !== rel) this.byRel.delete(rel);
  }

  entries(): [string, number][] {
    return [...this.byRel];
  }

  forget(wd: number): void {
    const rel = this.byWd.get(wd);
    this.byWd.delete(wd);
    if (rel !== undefined && this.byRel.get(rel) === wd) {
      this.byRel.delete(rel);
      this.release();
    }
  }

  /** Lets go of the watches of `dir` and every folder below it (not the root's). */
  drop(dir: string): void {
    for (const [rel, wd] of this.byRel)
      if (rel !== '' && under(rel, dir)) {
        this.ops.remove(wd);
        this.forget(wd);
      }
  }

  /** Room for one more folder's watch, taken (see `shared`). */
  private reserve(): boolean {
    if (!this.shared) return this.byRel.size < MAX_WATCHED_DIRS;
    if (Atomics.add(this.shared, 0, 1) < MAX_WATCHED_DIRS) return true;
    Atomics.sub(this.shared, 0, 1);
    return false;
  }

  private release(): void {
    if (this.shared) Atomics.sub(this.shared, 0, 1);
  }

  /**
   * Whether a folder may hold folders: a leaf (its 2 links: its name and its own `.`) on the
   * root's device, where that count is kept, need not be listed. Most folders of a tree are
   * leaves; their listings were most of a scan. Read after the folder's watch is added: a folder
   * made in it later is heard. Anything unexpected (a folder replaced meanwhile) lists it.
   */
  private mayHoldFolders(abs: string | Buffer): boolean {
    if (this.leafDev === undefined) return true;
    try {
      const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
      return !st || st.dev !== this.leafDev || st.nlink !== 2n;
    } catch {
      return true;
    }
  }

  /**
   * Watches the folders of `queue` and those below them, shallowest first, until `budget` folders
   * are done: what is left to do is returned. `rootError` is set when the location itself cannot
   * be watched.
   */
  scan(queue: string[], budget: number): { rest: string[]; rootError?: string } {
    let rootError: string | undefined;
    let done = 0;
    let i = 0;
    // Bounded: each folder is queued once per listing of its parent, and a watched one is not listed again.
    for (; i < queue.length && done < budget; i++) {
      if (this.shared && Atomics.load(this.shared, 1) === 1) break;
      const dir = queue[i]!;
      // The root may be reached through a symlink (as the user named it); no folder under it is.
      const abs = fsPathOf(this.root, dir);
      if (this.byRel.has(dir) || !this.reserve()) continue;
      done++;
      let wd = this.ops.add(abs, dir === '');
      // A folder moved within the tree whose move away went unheard still holds its watch (the
      // kernel's is per folder, not per path): its old paths are let go and it is watched anew.
      const was = typeof wd === 'number' ? this.byWd.get(wd) : undefined;
      if (was !== undefined && was !== '' && was !== dir) {
        this.drop(was);
        wd = this.ops.add(abs, false);
      }
      if (typeof wd === 'string') {
        this.release();
        if (dir === '') rootError = wd;
        continue; // gone meanwhile, or no longer a folder (a symlink, a file)
      }
      this.byWd.set(wd, dir);
      this.byRel.set(dir, wd);
      if (dir !== '' && !this.mayHoldFolders(abs)) continue;
      for (const name of subfolderNames(abs, dir === '')) {
        const rel = dir === '' ? name : `${dir}/${name}`;
        if (!this.skip(rel)) queue.push(rel);
      }
    }
    return { rest: queue.slice(i), rootError };
  }
}
