// A recursive watch of a location: one watch per folder, not per file. Node 20's own recursive
// watch on Linux watches every file as well, and reads a folder again for each change in it: a
// pull of 10,000 files into a watched location spent 12 s of CPU and tens of MB there (bench/
// transfer.ts). Folders the rules skip are never watched; a folder that appears is watched with
// the folders it holds, one that goes is let go. The watches are those of one inotify instance
// (inotify.ts: a number per folder), or, where that is not available, one fs.watch per folder.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { IN, openInotify, type InotifyEvent } from './inotify.js';

/** Folders watched at most (each holds a kernel watch); past it, deeper new folders go unwatched. */
export const MAX_WATCHED_DIRS = 100_000;

export interface TreeWatch {
  close(): void;
  /** Folders watched now (relative paths). */
  readonly size: number;
}

/**
 * Watches `root` and the folders under it that `skip` lets through; `onChange` hears the relative
 * path of what changed ('' for the root itself), `onError` a watch that broke (the root's).
 */
export function watchTree(
  root: string,
  skip: (rel: string) => boolean,
  onChange: (rel: string) => void,
  onError: (e: Error) => void,
  opts: { inotify?: boolean } = {},
): TreeWatch {
  return (
    (opts.inotify !== false && inotifyTree(root, skip, onChange, onError)) || fsWatchTree(root, skip, onChange, onError)
  );
}

const under = (rel: string, dir: string): boolean => dir === '' || rel === dir || rel.startsWith(`${dir}/`);

/** The folders under `dir` (relative to root) that are folders themselves, not symlinks; [] if it is gone. */
function subfolders(root: string, dir: string): string[] {
  try {
    return readdirSync(dir === '' ? root : join(root, dir), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => (dir === '' ? d.name : `${dir}/${d.name}`));
  } catch {
    return []; // gone: its parent's watch reports that
  }
}

function inotifyTree(
  root: string,
  skip: (rel: string) => boolean,
  onChange: (rel: string) => void,
  onError: (e: Error) => void,
): TreeWatch | undefined {
  const ino = openInotify((events) => heard(events));
  if (!ino) return undefined;
  const byWd = new Map<number, string>();
  const byRel = new Map<string, number>();
  let closed = false;
  const forget = (wd: number): void => {
    const rel = byWd.get(wd);
    byWd.delete(wd);
    if (rel !== undefined && byRel.get(rel) === wd) byRel.delete(rel);
  };
  const drop = (dir: string): void => {
    for (const [rel, wd] of byRel)
      if (rel !== '' && under(rel, dir)) {
        ino.remove(wd);
        forget(wd);
      }
  };
  const add = (dir: string): void => {
    if (closed || byRel.has(dir) || byRel.size >= MAX_WATCHED_DIRS) return;
    // The root may be reached through a symlink (as the user named it); no folder under it is.
    const abs = dir === '' ? root : join(root, dir);
    let wd = ino.add(abs, dir === '');
    // A folder moved within the tree whose move away went unheard still holds its watch (the
    // kernel's is per folder, not per path): its old paths are let go and it is watched anew.
    const was = typeof wd === 'number' ? byWd.get(wd) : undefined;
    if (was !== undefined && was !== '' && was !== dir) {
      drop(was);
      wd = ino.add(abs, false);
    }
    if (typeof wd === 'string') {
      if (dir === '') onError(new Error(`${wd}: cannot watch ${root}`));
      return; // gone meanwhile, or no longer a folder (a symlink, a file)
    }
    byWd.set(wd, dir);
    byRel.set(dir, wd);
    for (const rel of subfolders(root, dir)) if (!skip(rel)) add(rel);
  };
  const heard = (events: InotifyEvent[]): void => {
    for (const ev of events) {
      if (closed) return;
      if (ev.mask & IN.Q_OVERFLOW) {
        onChange(''); // events were lost: the whole location is looked at again
        continue;
      }
      const dir = byWd.get(ev.wd);
      if (dir === undefined) continue; // a watch let go, its last events still queued
      if (ev.mask & IN.IGNORED) {
        forget(ev.wd); // the folder went (its parent reported it) or its file system did
        continue;
      }
      if (ev.name === '') {
        if (dir === '') onChange(''); // the location's own folder: removed, moved or changed
        continue; // any other folder's change is reported by its parent
      }
      const rel = dir === '' ? ev.name : `${dir}/${ev.name}`;
      if (skip(rel)) continue;
      onChange(rel);
      if (ev.mask & (IN.DELETE | IN.MOVED_FROM)) drop(rel);
      if (ev.mask & (IN.CREATE | IN.MOVED_TO) && ev.mask & IN.ISDIR) add(rel);
    }
  };
  add('');
  return {
    close() {
      closed = true;
      ino.close();
      byWd.clear();
      byRel.clear();
    },
    get size() {
      return byRel.size;
    },
  };
}

function fsWatchTree(
  root: string,
  skip: (rel: string) => boolean,
  onChange: (rel: string) => void,
  onError: (e: Error) => void,
): TreeWatch {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  const drop = (dir: string): void => {
    for (const [rel, w] of watchers)
      if (rel !== '' && under(rel, dir)) {
        w.close();
        watchers.delete(rel);
      }
  };
  const add = (dir: string): void => {
    if (closed || watchers.has(dir) || watchers.size >= MAX_WATCHED_DIRS) return;
    const abs = dir === '' ? root : join(root, dir);
    let w: FSWatcher;
    try {
      w = watch(abs, (type, name) => {
        if (closed) return;
        if (name === null) return onChange(dir);
        const rel = dir === '' ? String(name) : `${dir}/${String(name)}`;
        if (skip(rel)) return;
        onChange(rel);
        if (type !== 'rename') return;
        // Made, moved in, moved away or removed: a folder there is watched, one gone is let go.
        let isDir = false;
        try {
          isDir = statSync(join(root, rel)).isDirectory();
        } catch {
          // gone
        }
        if (isDir) add(rel);
        else drop(rel);
      });
    } catch (e) {
      if (dir === '') onError(e as Error);
      return; // a folder gone meanwhile
    }
    w.on('error', (e) => {
      if (dir === '') return onError(e);
      drop(dir);
    });
    watchers.set(dir, w);
    let names: string[] = [];
    try {
      names = readdirSync(abs, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return; // gone: its watch reports that
    }
    for (const n of names) {
      const rel = dir === '' ? n : `${dir}/${n}`;
      if (!skip(rel)) add(rel);
    }
  };
  add('');
  return {
    close() {
      closed = true;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
    get size() {
      return watchers.size;
    },
  };
}
