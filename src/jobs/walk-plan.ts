// The walk's plan: which names a walk of one location reports, and in what order, from the
// folders' listings alone (entry types from d_type; lstat only where a filesystem gives none).
// It applies the rules (walk-rules.ts), the .gitignore files (gitignore.ts reads them) and the
// excluded folders. The lstat of what is planned is walk-stat.ts; walk.ts puts the two together.
import { closeSync, lstatSync, statSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { SdError } from '../errors.js';
import { DEFAULT_SKIP_NAMES, isHidden, NEVER_INDEXED, type WalkRules } from './walk-rules.js';
import { beneath, checkPin, openLocationRoot, pinOf, type RootPin } from './beneath.js';
import {
  DIR,
  dropLeadingSlashes,
  join,
  LEADING_SLASHES,
  listDir,
  type Below,
  type Listing,
  OTHER,
  REGULAR,
  shownAs,
  trimSlashes,
  typeOf,
  UNKNOWN,
} from './walk-list.js';
import {
  gitIgnored,
  levelsAbove,
  newIgnore,
  readGitignore,
  type GitignoreAbove,
  type IgnoreLevel,
} from './gitignore.js';

export interface WalkError {
  path: string;
  code: string;
  message: string;
}

export interface WalkOptions {
  /** Resume: skip every entry up to and including this relPath in walk order. */
  startAfter?: string;
  /** Entries per yielded batch (default 1000). */
  batchSize?: number;
  /** Absolute folder paths never entered nor reported (the data dir, pseudo filesystems). */
  exclude?: readonly string[];
  /** Test seam: called after a folder is listed and before its entries are lstat'ed. */
  onDirListed?: (dirRelPath: string, names: readonly string[]) => void;
  /** A walk of a folder inside a location: the .gitignore files above it (gitignoreAbove). */
  gitignoreAbove?: readonly GitignoreAbove[];
  /**
   * A walk of a folder inside a location (a scope): the location's root. The scope and every
   * folder below it are then opened from the root's descriptor, so a folder above the scope
   * swapped for a symlink since the scope was checked is never followed either.
   */
  below?: string | Buffer;
  /**
   * The folder the walk's top (the location's root) must be: the one its job began with. Without
   * it, the folder the walk opens first; either way each batch's lstat opens no other.
   */
  pin?: RootPin;
}

interface Frame {
  rel: string;
  fs: string | Buffer;
  names: string[];
  /** Entry types from the listing (OTHER, DIR, LINK, UNKNOWN, REGULAR), parallel to names. */
  types: Uint8Array;
  /** Raw bytes for names that were escaped; absent when all are plain. */
  raw: Map<string, Buffer> | undefined;
  i: number;
  levels: IgnoreLevel[];
  /** Remaining cursor components while descending along the resume path. */
  resume: string[] | undefined;
}

function errOf(path: string, e: unknown): WalkError {
  const code = (e as { code?: unknown } | null)?.code;
  return {
    path,
    code: typeof code === 'string' ? code : 'E_INTERNAL',
    message: e instanceof Error ? e.message : String(e),
  };
}

/** The .gitignore of a folder read through `fsDir` (the folder `shown` as its errors name it). */
function loadGitignore(
  fsDir: string | Buffer,
  rel: string,
  levels: IgnoreLevel[],
  errors: WalkError[],
  shown: string | Buffer,
): IgnoreLevel[] {
  try {
    const text = readGitignore(join(fsDir, '.gitignore', undefined));
    return [...levels, { base: rel, ig: newIgnore().add(text) }];
  } catch (e) {
    errors.push(errOf(rel === '' ? '.gitignore' : `${rel}/.gitignore`, shownAs(e, fsDir, shown)));
    return levels;
  }
}

/** One name the planner decided to report; its attributes come from the stat step. */
export interface Planned {
  rel: string;
  name: string;
  fs: string | Buffer;
  /** From the listing's entry type (d_type): a folder, which the walk descends. */
  dir: boolean;
  /** From the listing's entry type: a regular file (its attributes still come from the stat step). */
  file: boolean;
  /** Its path from the batch's `top`, in fs form, when the walk opens folders from there (beneath.ts). */
  relFs?: string | Buffer;
}
export interface PlannedBatch {
  items: Planned[];
  errors: WalkError[];
  /** The folder the walk opens every other from (the location's root): its entries are lstat'ed below it. */
  top?: string | Buffer;
  /** The folder `top` must still be when a batch's lstat opens it again. */
  pin?: RootPin;
}

/**
 * The walk's order and rules without the per-entry lstat: folders are listed with their entry
 * types (d_type), which is all descending needs; lstat is needed only where a filesystem does not
 * report types. Yields batches of `batchSize` names in walk order.
 */
export function* plan(root: string | Buffer, rules: WalkRules, options: WalkOptions): Generator<PlannedBatch> {
  const excluded = new Set(options.exclude ?? []);
  const skipHidden = rules.skipHidden ?? true;
  const skipNames = new Set(rules.skipNames ?? DEFAULT_SKIP_NAMES);
  const useGitignore = rules.gitignore ?? false;
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const rootFs = typeof root === 'string' && root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root;

  let rootStat: BigIntStats;
  try {
    rootStat = statSync(rootFs, { bigint: true });
  } catch (e) {
    throw new SdError('E_LOCATION_UNREADABLE', `the location ${root} cannot be read: ${(e as Error).message}`);
  }
  if (!rootStat.isDirectory()) throw new SdError('E_LOCATION_NOT_DIR', `the location ${root} is not a folder`);

  let items: Planned[] = [];
  let errors: WalkError[] = [];
  const stack: Frame[] = [];
  // Each folder below the root is listed through a descriptor opened from the root's without
  // following a symlink: one swapped in after its parent was listed is an error of the walk
  // (E_PATH_CHANGED), never a listing of what it points to (by path where that cannot be done).
  const b = beneath();
  // The folder opened by path: the location's root (a scope's walk opens its scope below it).
  const top = trimSlashes(options.below ?? rootFs);
  // Never listed by path where it cannot be opened: that path may lead elsewhere by now.
  const rootFd = b?.openFolder ? openLocationRoot(top, options.pin) : -1;
  // Without openat2 the root is still checked once against the job's pin (by path from then on).
  if (rootFd < 0) checkPin(top, options.pin);
  const pin = rootFd >= 0 ? (options.pin ?? pinOf(rootFd)) : undefined;
  // A path below `top` less `top` and the slashes after it (two under a location at `/`).
  const topBytes = typeof top === 'string' ? Buffer.byteLength(top) : top.length;
  const relOf = (fs: string | Buffer): string | Buffer =>
    typeof fs === 'string' && typeof top === 'string'
      ? fs.slice(top.length).replace(LEADING_SLASHES, '')
      : dropLeadingSlashes(Buffer.from(fs).subarray(topBytes));
  // The root itself is listed through its descriptor too ('.'), and its .gitignore read from there.
  const below = (fs: string | Buffer): Below | undefined => {
    if (rootFd < 0) return undefined;
    const rel = relOf(fs);
    return { b: b!, rootFd, rel: rel.length === 0 ? '.' : rel };
  };
  const batchOf = (): PlannedBatch => (rootFd >= 0 ? { items, errors, top, pin } : { items, errors });

  const open = (
    rel: string,
    fs: string | Buffer,
    parentLevels: IgnoreLevel[],
    resume: string[] | undefined,
  ): boolean => {
    let listed: Listing;
    let levels: IgnoreLevel[];
    try {
      // A .gitignore is read from the folder listed, while it is open.
      [listed, levels] = listDir(fs, below(fs), (l, at): [Listing, IgnoreLevel[]] => [
        l,
        useGitignore && l.names.includes('.gitignore')
          ? loadGitignore(at, rel, parentLevels, errors, fs)
          : parentLevels,
      ]);
    } catch (e) {
      // A scope swapped since it was checked keeps its own code (the watch asks again for the folder above).
      if (rel === '' && (e as { code?: unknown }).code === 'E_PATH_CHANGED')
        throw new SdError('E_PATH_CHANGED', `${String(root)} is no longer a folder below the location: not walked`);
      if (rel === '')
        throw new SdError('E_LOCATION_UNREADABLE', `the location ${root} cannot be listed: ${(e as Error).message}`);
      errors.push(errOf(rel, e));
      return false;
    }
    options.onDirListed?.(rel, listed.names);
    let i = 0;
    if (resume) {
      // Siblings sorting before the cursor component were handled before the checkpoint.
      const first = resume[0]!;
      while (i < listed.names.length && listed.names[i]! < first) i++;
    }
    stack.push({ rel, fs, names: listed.names, types: listed.types, raw: listed.raw, i, levels, resume });
    return true;
  };

  const cursorParts = options.startAfter ? options.startAfter.split('/').filter((p) => p !== '') : undefined;
  const above = useGitignore ? levelsAbove(options.gitignoreAbove ?? []) : [];
  try {
    open('', rootFs, above, cursorParts && cursorParts.length > 0 ? cursorParts : undefined);
    // Bounded: every pass consumes one name or pops one frame; symlinks are never descended.
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i >= f.names.length) {
        stack.pop();
        continue;
      }
      const idx = f.i++;
      const name = f.names[idx]!;
      let resumeRest: string[] | undefined;
      let emit = true;
      if (f.resume) {
        const isCursorPath = name === f.resume[0];
        // Only the first name at or after the cursor component is special; later ones are plain.
        resumeRest = isCursorPath && f.resume.length > 1 ? f.resume.slice(1) : undefined;
        emit = !isCursorPath;
        f.resume = undefined;
      }
      if ((skipHidden && isHidden(name)) || skipNames.has(name)) continue;
      // The trash of file operations (ops/entry) and the partial copies of transfers (transfer/) are
      // never indexed, even with hidden files included.
      if (f.rel === '' && NEVER_INDEXED.has(name)) continue;
      const rel = f.rel === '' ? name : `${f.rel}/${name}`;
      const fsPath = join(f.fs, name, f.raw?.get(name));
      let type = f.types[idx]!;
      if (type === UNKNOWN) {
        // This filesystem does not report entry types: ask it.
        try {
          const st = lstatSync(fsPath, { throwIfNoEntry: false });
          type = st === undefined ? OTHER : typeOf(st);
        } catch {
          type = OTHER; // the stat step records the error
        }
      }
      const isDir = type === DIR;
      if (isDir && excluded.size > 0 && typeof fsPath === 'string' && excluded.has(fsPath)) continue;
      if (useGitignore && f.levels.length > 0 && gitIgnored(f.levels, rel, isDir)) continue;
      if (emit) {
        const it: Planned = { rel, name, fs: fsPath, dir: isDir, file: type === REGULAR };
        if (rootFd >= 0) it.relFs = relOf(fsPath);
        items.push(it);
      }
      // The cursor entry itself was handled, but its children come after it, so descend.
      if (isDir) open(rel, fsPath, f.levels, resumeRest);
      if (items.length >= batchSize) {
        yield batchOf();
        items = [];
        errors = [];
      }
    }
    if (items.length > 0 || errors.length > 0) yield batchOf();
  } finally {
    if (rootFd >= 0) closeSync(rootFd);
  }
}

/**
 * Counts what a walk would report, from the folders' listings alone (no lstat): a preview's
 * estimate. Stops after `budgetMs` or `maxEntries`, and then says the count is partial.
 */
export function countEntries(
  root: string,
  rules: WalkRules,
  exclude: readonly string[],
  budgetMs: number,
  maxEntries: number,
): { files: number; dirs: number; partial: boolean } {
  const t0 = Date.now();
  let files = 0;
  let dirs = 0;
  for (const b of plan(root, rules, { batchSize: 2000, exclude })) {
    for (const it of b.items) {
      if (it.dir) dirs++;
      else files++;
      if (files + dirs >= maxEntries) return { files, dirs, partial: true };
    }
    if (Date.now() - t0 > budgetMs) return { files, dirs, partial: true };
  }
  return { files, dirs, partial: false };
}
