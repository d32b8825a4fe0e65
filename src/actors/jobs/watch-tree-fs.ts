// The recursive watch of a location where inotify through koffi is not available: one fs.watch
// per folder (watch-tree.ts takes it then). A folder made or moved in is watched with the folders
// it holds, one that goes is let go; folders the rules skip are never watched.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { fsPathOf, nameIn } from '../../jobs/names.js';
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
    // Names as bytes, in the walker's string form (a name that is not UTF-8 is watched too).
    const abs = fsPathOf(root, dir);
    let w: FSWatcher;
    try {
      w = watch(abs, { encoding: 'buffer' }, (type, raw) => {
        if (closed) return;
        if (raw === null) return onChange(dir);
        const name = nameIn(raw, 0, raw.length);
        const rel = dir === '' ? name : `${dir}/${name}`;
        if (skip(rel)) return;
        onChange(rel);
        if (type !== 'rename') return;
        // Made, moved in, moved away or removed: a folder there is watched, one gone is let go.
        let isDir = false;
        try {
          isDir = statSync(fsPathOf(root, rel)).isDirectory();
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
      names = readdirSync(abs, { withFileTypes: true, encoding: 'buffer' })
        .filter((d) => d.isDirectory())
        .map((d) => nameIn(d.name, 0, d.name.length));
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
