// The folders of one recursive inotify watch and their watch numbers, and the scan that watches
// a folder and then the folders it holds. The same code runs on the main thread (a small tree, a
// folder made while watched) and on a thread of its own (a large tree: watch-scan-worker.ts),
// which hands its numbers back when it is done. Each folder is watched before it is listed, so
// whatever is made in it afterwards is heard.
import { closeSync, constants as C, lstatSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { libcFunction } from '../../native/libc.js';
import { NEVER_INDEXED } from '../../jobs/walk-plan.js';

/** Folders watched at most (each holds a kernel watch); past it, deeper new folders go unwatched. */
export const MAX_WATCHED_DIRS = 100_000;

/** What a watch is asked to skip, as plain data (it crosses to the scanning thread). */
export interface WatchRules {
  skipNames: readonly string[];
  skipHidden: boolean;
  /** Relative paths below the location that are never watched (a data dir inside it). */
  excluded: readonly string[];
}

/** The test of a relative path against a location's rules (both threads build it from the same data). */
export function skipperOf(rules: WatchRules): (rel: string) => boolean {
  const names = new Set(rules.skipNames);
  return (rel) =>
    NEVER_INDEXED.has(rel.split('/', 1)[0]!) ||
    rules.excluded.some((x) => rel === x || rel.startsWith(`${x}/`)) ||
    rel.split('/').some((n) => names.has(n) || (rules.skipHidden && n.startsWith('.')));
}

/** The kernel side of a watch: add a folder's watch (its number, or the errno's name), let one go. */
export interface WatchOps {
  add(path: string, follow: boolean): number | string;
  remove(wd: number): void;
}

export const under = (rel: string, dir: string): boolean => dir === '' || rel === dir || rel.startsWith(`${dir}/`);

const DT_UNKNOWN = 0;
const DT_DIR = 4;
let getdents: ((...args: unknown[]) => number) | null | undefined;
const listing = Buffer.alloc(64 * 1024);

/**
 * The names of the folders (not symlinks) directly in `abs`; [] if it is gone. The kernel's
 * listing is read as it comes (getdents64) and only folders' names are decoded: Node's readdir
 * made an object and a string for each of a million files to find 50,000 folders.
 */
export function subfolderNames(abs: string, follow = false): string[] {
  if (getdents === undefined) getdents = libcFunction('long getdents64(int, void *, size_t)') ?? null;
  if (!getdents) return nodeSubfolders(abs);
  let fd: number;
  try {
    fd = openSync(abs, C.O_RDONLY | C.O_DIRECTORY | (follow ? 0 : C.O_NOFOLLOW));
  } catch {
    return []; // gone, or no longer a folder: its parent's watch reports that
  }
  const out: string[] = [];
  try {
    // Bounded by the folder: each call returns the next part of its listing, 0 at its end.
    for (;;) {
      const n = Number(getdents(fd, listing, listing.length));
      if (n <= 0) break;
      for (let off = 0; off < n;) {
        const size = listing.readUInt16LE(off + 16);
        const type = listing[off + 18];
        if (type === DT_DIR || type === DT_UNKNOWN) {
          const name = listing.toString('utf8', off + 19, listing.indexOf(0, off + 19));
          if (name !== '.' && name !== '..' && (type === DT_DIR || isFolder(join(abs, name)))) out.push(name);
        }
        off += size;
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function isFolder(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

function nodeSubfolders(abs: string): string[] {
  try {
    return readdirSync(abs, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

export class WatchSet {
  readonly byWd = new Map<number, string>();
  readonly byRel = new Map<string, number>();

  constructor(
    private readonly root: string,
    private readonly skip: (rel: string) => boolean,
    private readonly ops: WatchOps,
  ) {}

  get size(): number {
    return this.byRel.size;
  }

  /** Holds exactly `entries` (what another thread watched), and nothing else. */
  load(entries: readonly (readonly [string, number])[]): void {
    this.byRel.clear();
    this.byWd.clear();
    for (const [rel, wd] of entries) {
      this.byRel.set(rel, wd);
      this.byWd.set(wd, rel);
    }
  }

  entries(): [string, number][] {
    return [...this.byRel];
  }

  forget(wd: number): void {
    const rel = this.byWd.get(wd);
    this.byWd.delete(wd);
    if (rel !== undefined && this.byRel.get(rel) === wd) this.byRel.delete(rel);
  }

  /** Lets go of the watches of `dir` and every folder below it (not the root's). */
  drop(dir: string): void {
    for (const [rel, wd] of this.byRel)
      if (rel !== '' && under(rel, dir)) {
        this.ops.remove(wd);
        this.forget(wd);
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
      const dir = queue[i]!;
      if (this.byRel.has(dir) || this.byRel.size >= MAX_WATCHED_DIRS) continue;
      done++;
      // The root may be reached through a symlink (as the user named it); no folder under it is.
      const abs = dir === '' ? this.root : join(this.root, dir);
      let wd = this.ops.add(abs, dir === '');
      // A folder moved within the tree whose move away went unheard still holds its watch (the
      // kernel's is per folder, not per path): its old paths are let go and it is watched anew.
      const was = typeof wd === 'number' ? this.byWd.get(wd) : undefined;
      if (was !== undefined && was !== '' && was !== dir) {
        this.drop(was);
        wd = this.ops.add(abs, false);
      }
      if (typeof wd === 'string') {
        if (dir === '') rootError = wd;
        continue; // gone meanwhile, or no longer a folder (a symlink, a file)
      }
      this.byWd.set(wd, dir);
      this.byRel.set(dir, wd);
      for (const name of subfolderNames(abs, dir === '')) {
        const rel = dir === '' ? name : `${dir}/${name}`;
        if (!this.skip(rel)) queue.push(rel);
      }
    }
    return { rest: queue.slice(i), rootError };
  }
}
