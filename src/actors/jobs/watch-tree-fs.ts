// The recursive watch of a location where inotify through koffi is not available: one fs.watch
// per folder (watch-tree.ts takes it then). A folder made or moved in is watched with the folders
// it holds, one that goes is let go; folders the rules skip are never watched.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { MAX_WATCHED_DIRS, under } from './watch-set.js';
import type { TreeWatch } from './watch-tree.js';

export function fsWatchTree(
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
    ready: () => Promise.resolve(),
  };
}
