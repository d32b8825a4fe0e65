// Keeps watched locations current: file-system events are coalesced per location into one
// scoped rescan of the folders that changed, so a burst of 10,000 changes is one job, not 10,000.
import { watch, type FSWatcher } from 'node:fs';
import type { Library } from '../library/library.js';
import type { JobManager } from './manager.js';
import { isDiskFull } from '../disk.js';
import { DEFAULT_SKIP_NAMES, type WalkRules } from './walk.js';
import { excludedBelow } from './exclude.js';

const QUIET_MS = 150;
const MAX_WAIT_MS = 800;
const MAX_SCOPES = 256;

interface Watched {
  lib: Library;
  loc: string;
  watcher: FSWatcher;
  dirs: Set<string>;
  timer?: NodeJS.Timeout;
  first?: number;
  job?: string;
  skip: (rel: string) => boolean;
}

export class Watchers {
  private readonly watched = new Map<string, Watched>();
  /** Locations not watched for a while (hold), with how many holds each. */
  private readonly held = new Map<string, number>();

  constructor(
    private readonly jobs: JobManager,
    private readonly device: string,
    private readonly onError: (loc: string, err: Error) => void = () => undefined,
  ) {}

  /** Starts watching every watched location of this device in lib; stops removed ones. */
  sync(lib: Library): void {
    const rows = lib.db.prepare('SELECT id, path, watch, rules FROM locations WHERE dev = ?').all(this.device) as {
      id: string;
      path: string;
      watch: number;
      rules: string;
    }[];
    const want = new Set(rows.filter((r) => r.watch === 1).map((r) => r.id));
    for (const [id, w] of this.watched) if (w.lib === lib && !want.has(id)) this.unwatch(id);
    for (const r of rows)
      if (r.watch === 1 && !this.watched.has(r.id) && !this.held.has(r.id))
        this.start(lib, r.id, r.path, JSON.parse(r.rules) as WalkRules);
  }

  /**
   * Stops watching a location for a while: a transfer writing thousands of files into its partial
   * folder would have Node's recursive watcher walk and watch each of them. The release watches it
   * again and rescans it once for whatever changed meanwhile. Holds nest.
   */
  hold(lib: Library, loc: string): () => void {
    this.held.set(loc, (this.held.get(loc) ?? 0) + 1);
    this.unwatch(loc);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.held.get(loc) ?? 1) - 1;
      if (n > 0) return void this.held.set(loc, n);
      this.held.delete(loc);
      if (!lib.db.open) return;
      this.sync(lib);
      this.onChange(loc, null);
    };
  }

  isWatching(loc: string): boolean {
    return this.watched.has(loc);
  }

  private start(lib: Library, loc: string, path: string, rules: WalkRules): void {
    const skipNames = new Set(rules.skipNames ?? DEFAULT_SKIP_NAMES);
    const skipHidden = rules.skipHidden ?? true;
    // The data dir inside a location changes with every database write: its events are not ours to index.
    const excluded = excludedBelow(path).map((e) => e.path.slice(path.length + 1));
    // A transfer's partial copy (transfer/) is written chunk by chunk: never indexed, never a rescan.
    const skip = (rel: string): boolean =>
      rel === '.vdfs-partial' ||
      rel.startsWith('.vdfs-partial/') ||
      excluded.some((x) => rel === x || rel.startsWith(`${x}/`)) ||
      rel.split('/').some((n) => skipNames.has(n) || (skipHidden && n.startsWith('.')));
    let watcher: FSWatcher;
    try {
      watcher = watch(path, { recursive: true }, (_type, filename) =>
        this.onChange(loc, filename === null ? null : String(filename)),
      );
    } catch (e) {
      this.onError(loc, e as Error);
      return;
    }
    watcher.on('error', (e) => {
      this.onError(loc, e);
      this.unwatch(loc);
    });
    this.watched.set(loc, { lib, loc, watcher, dirs: new Set(), skip });
  }

  private onChange(loc: string, filename: string | null): void {
    const w = this.watched.get(loc);
    if (!w) return;
    const rel = filename === null ? '' : filename.split('\\').join('/');
    if (rel !== '' && w.skip(rel)) return;
    w.dirs.add(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const now = Date.now();
    w.first ??= now;
    clearTimeout(w.timer);
    const wait = Math.max(0, Math.min(QUIET_MS, w.first + MAX_WAIT_MS - now));
    w.timer = setTimeout(() => this.fire(loc), wait);
  }

  private fire(loc: string): void {
    const w = this.watched.get(loc);
    if (!w || w.dirs.size === 0) return;
    // One rescan at a time per location; changes arriving meanwhile wait for the next one.
    if (w.job && this.jobs.isActive(w.job)) {
      w.timer = setTimeout(() => this.fire(loc), QUIET_MS);
      return;
    }
    const scope = w.dirs.size > MAX_SCOPES || w.dirs.has('') ? [''] : [...w.dirs];
    w.dirs.clear();
    w.first = undefined;
    if (!w.lib.db.open) return;
    try {
      w.job = this.jobs.enqueue(w.lib, 'index', loc, { loc, scope, watch: true }).id;
    } catch (e) {
      // A full disk: the changes are picked up by the next rescan once space returns.
      if (!isDiskFull(e)) throw e;
      for (const d of scope) w.dirs.add(d);
      this.jobs.onDiskFull?.(e, `watcher of location ${loc.slice(0, 8)}`);
    }
  }

  unwatch(loc: string): void {
    const w = this.watched.get(loc);
    if (!w) return;
    clearTimeout(w.timer);
    w.watcher.close();
    this.watched.delete(loc);
  }

  stop(): void {
    for (const loc of [...this.watched.keys()]) this.unwatch(loc);
  }
}
