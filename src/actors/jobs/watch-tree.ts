// A recursive watch of a location: one watch per folder, not per file. Node 20's own recursive
// watch on Linux watches every file as well, and reads a folder again for each change in it: a
// pull of 10,000 files into a watched location spent 12 s of CPU and tens of MB there (bench/
// transfer.ts). Folders the rules skip are never watched; a folder that appears is watched with
// the folders it holds, one that goes is let go.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

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
): TreeWatch {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  const under = (rel: string, dir: string): boolean => dir === '' || rel === dir || rel.startsWith(`${dir}/`);
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
