// Directory walker for one location root: batches of lstat'ed entries in a deterministic order.
//
// Order: depth-first pre-order, siblings sorted by name (JS string order of the names as
// encoded by names.ts). A directory comes before its contents, so a cursor (the relPath of the
// last entry handled) is enough to resume: walk(root, rules, {startAfter}) yields exactly the
// entries after it. Symlinks are recorded, never followed, so loops cannot trap the walk.
// Per-path failures are collected as WalkError values; only an unusable root throws, because an
// empty walk of an unplugged drive must not look like "everything was deleted".
// Note for the indexer: a directory listed in errors was not read, so its previously known
// children must not be treated as deleted.
import { constants as fsConstants, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { BigIntStats, Dirent } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ignore } from 'ignore';
import { SdError } from '../errors.js';
import { ESCAPE_MARK, encodeName } from './names.js';
import type { LstatColumns } from './hash-pool.js';
import type { SpecialKind } from './kind.js';
import { fastLstat, type RawStat } from './statx.js';
import type { RemoteWalkRequest, WalkPart } from './walk-remote.js';

export interface WalkEntry {
  /** '/'-separated path below the root; escaped names per names.ts. */
  relPath: string;
  name: string;
  isDir: boolean;
  isSymlink: boolean;
  size: number;
  mtimeMs: number;
  inode: bigint;
  dev: bigint;
  /** A named pipe, socket or device: recorded with its kind, never opened. */
  special?: SpecialKind;
}

export interface WalkError {
  path: string;
  code: string;
  message: string;
}

export interface WalkRules {
  /** Skip names starting with '.' (default true). */
  skipHidden?: boolean;
  /** Exact names (files or folders) to skip (default DEFAULT_SKIP_NAMES). */
  skipNames?: readonly string[];
  /** Honour .gitignore files, each for its own folder and below (default false). */
  gitignore?: boolean;
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
}

export interface WalkBatch {
  entries: WalkEntry[];
  errors: WalkError[];
  /** relPath of the last entry in this batch; store it to resume after this batch. */
  cursor: string | undefined;
}

/** Folders at a location's root that hold our own work (trash, partial transfers): never indexed. */
export const NEVER_INDEXED: ReadonlySet<string> = new Set(['.vdfs-trash', '.vdfs-partial']);

export const DEFAULT_SKIP_NAMES: readonly string[] = [
  '.git',
  '.hg',
  '.svn',
  'node_modules',
  '.DS_Store',
  'Thumbs.db',
  'desktop.ini',
  '.Trash',
  '.Trashes',
  '.Spotlight-V100',
  '.fseventsd',
  '$RECYCLE.BIN',
  'System Volume Information',
];

interface IgnoreLevel {
  base: string;
  ig: Ignore;
}

interface Frame {
  rel: string;
  fs: string | Buffer;
  names: string[];
  /** Entry types from the listing (OTHER, DIR, LINK, UNKNOWN), parallel to names. */
  types: Uint8Array;
  /** Raw bytes for names that were escaped; absent when all are plain. */
  raw: Map<string, Buffer> | undefined;
  i: number;
  levels: IgnoreLevel[];
  /** Remaining cursor components while descending along the resume path. */
  resume: string[] | undefined;
}

const SLASH = Buffer.from('/');

function join(dir: string | Buffer, name: string, raw: Buffer | undefined): string | Buffer {
  if (raw === undefined && typeof dir === 'string') return dir === '/' ? `/${name}` : `${dir}/${name}`;
  const d = typeof dir === 'string' ? Buffer.from(dir) : dir;
  return Buffer.concat([d, SLASH, raw ?? Buffer.from(name)]);
}

function errOf(path: string, e: unknown): WalkError {
  const code = (e as { code?: unknown } | null)?.code;
  return {
    path,
    code: typeof code === 'string' ? code : 'E_INTERNAL',
    message: e instanceof Error ? e.message : String(e),
  };
}

interface Listing {
  names: string[];
  types: Uint8Array;
  raw: Map<string, Buffer> | undefined;
}

const OTHER = 0;
const DIR = 1;
const LINK = 2;
const UNKNOWN = 3;

function typeOf(d: Dirent<string> | Dirent<Buffer>): number {
  if (d.isDirectory()) return DIR;
  if (d.isSymbolicLink()) return LINK;
  if (d.isFile() || d.isFIFO() || d.isSocket() || d.isBlockDevice() || d.isCharacterDevice()) return OTHER;
  return UNKNOWN;
}

// Lists a folder with entry types, sorted by name; names are re-read as bytes only when one does
// not round-trip through UTF-8.
function listDir(fsPath: string | Buffer): Listing {
  const dirents = readdirSync(fsPath, { withFileTypes: true });
  let raw: Map<string, Buffer> | undefined;
  let named: Array<[string, number]>;
  if (!dirents.some((d) => d.name.includes(ESCAPE_MARK))) {
    named = dirents.map((d) => [d.name, typeOf(d)]);
  } else {
    raw = new Map();
    named = [];
    for (const d of readdirSync(fsPath, { withFileTypes: true, encoding: 'buffer' })) {
      const n = encodeName(d.name);
      if (n.startsWith(ESCAPE_MARK)) raw.set(n, d.name);
      named.push([n, typeOf(d)]);
    }
  }
  named.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const types = new Uint8Array(named.length);
  const names = named.map(([n, t], i) => ((types[i] = t), n));
  return { names, types, raw };
}

function isHidden(name: string): boolean {
  return name.charCodeAt(0) === 0x2e || name.startsWith(`${ESCAPE_MARK}.`);
}

function gitIgnored(levels: readonly IgnoreLevel[], relPath: string, isDir: boolean): boolean {
  let ignored = false;
  for (const { base, ig } of levels) {
    const rel = base === '' ? relPath : relPath.slice(base.length + 1);
    try {
      const r = ig.test(isDir ? `${rel}/` : rel);
      // A deeper .gitignore can re-include what a shallower one excluded, as in git.
      if (r.ignored) ignored = true;
      else if (r.unignored) ignored = false;
    } catch {
      // `ignore` rejects some odd relative forms; such a path is simply not ignored.
    }
  }
  return ignored;
}

// `ignore` is CommonJS. Imported from this ES module, Node would first scan its source for its
// exports (cjs-module-lexer) in every thread that loads the walker, the hashing threads included:
// V8 then optimised that scanner on each new thread, 100-280 ms of compiler CPU per first index
// on two shared cores. Required here, and only when a walk honours .gitignore, it costs none of that.
let ignoreFactory: (() => Ignore) | undefined;
const newIgnore = (): Ignore => (ignoreFactory ??= createRequire(import.meta.url)('ignore') as () => Ignore)();

function loadGitignore(fsDir: string | Buffer, rel: string, levels: IgnoreLevel[], errors: WalkError[]): IgnoreLevel[] {
  try {
    const text = readFileSync(join(fsDir, '.gitignore', undefined), 'utf8');
    return [...levels, { base: rel, ig: newIgnore().add(text) }];
  } catch (e) {
    errors.push(errOf(rel === '' ? '.gitignore' : `${rel}/.gitignore`, e));
    return levels;
  }
}

/** One name the planner decided to report; its attributes come from the stat step. */
interface Planned {
  rel: string;
  name: string;
  fs: string | Buffer;
  /** From the listing's entry type (d_type): a folder, which the walk descends. */
  dir: boolean;
}
interface PlannedBatch {
  items: Planned[];
  errors: WalkError[];
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

  const open = (
    rel: string,
    fs: string | Buffer,
    parentLevels: IgnoreLevel[],
    resume: string[] | undefined,
  ): boolean => {
    let listed: Listing;
    try {
      listed = listDir(fs);
    } catch (e) {
      if (rel === '')
        throw new SdError('E_LOCATION_UNREADABLE', `the location ${root} cannot be listed: ${(e as Error).message}`);
      errors.push(errOf(rel, e));
      return false;
    }
    options.onDirListed?.(rel, listed.names);
    const levels =
      useGitignore && listed.names.includes('.gitignore') ? loadGitignore(fs, rel, parentLevels, errors) : parentLevels;
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
  open('', rootFs, [], cursorParts && cursorParts.length > 0 ? cursorParts : undefined);

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
        type = st === undefined ? OTHER : st.isSymbolicLink() ? LINK : st.isDirectory() ? DIR : OTHER;
      } catch {
        type = OTHER; // the stat step records the error
      }
    }
    const isDir = type === DIR;
    if (isDir && excluded.size > 0 && typeof fsPath === 'string' && excluded.has(fsPath)) continue;
    if (useGitignore && f.levels.length > 0 && gitIgnored(f.levels, rel, isDir)) continue;
    if (emit) items.push({ rel, name, fs: fsPath, dir: isDir });
    // The cursor entry itself was handled, but its children come after it, so descend.
    if (isDir) open(rel, fsPath, f.levels, resumeRest);
    if (items.length >= batchSize) {
      yield { items, errors };
      items = [];
      errors = [];
    }
  }
  if (items.length > 0 || errors.length > 0) yield { items, errors };
}

const SPECIAL_OF: Record<number, SpecialKind> = { 1: 'fifo', 2: 'socket', 4: 'block-device', 8: 'char-device' };
const { S_IFMT, S_IFLNK, S_IFDIR, S_IFREG, S_IFIFO, S_IFSOCK, S_IFBLK, S_IFCHR } = fsConstants;
const SPECIAL_BITS: Record<number, number> = { [S_IFIFO]: 16, [S_IFSOCK]: 32, [S_IFBLK]: 64, [S_IFCHR]: 128 };

// A planned batch (its rels in walk order) plus its lstat results, as the walker's batch.
function assemble(
  rels: readonly string[],
  errors: WalkError[],
  st: LstatColumns,
  cursorBefore: string | undefined,
): WalkBatch {
  const entries: WalkEntry[] = [];
  const failed = new Map<number, [string, string]>();
  for (const [i, code, message] of st.errors) failed.set(i, [code, message]);
  for (let i = 0; i < rels.length; i++) {
    const rel = rels[i]!;
    const flags = st.flags[i]!;
    if (flags === 0) {
      const [code, message] = failed.get(i) ?? ['E_INTERNAL', 'lstat failed'];
      errors.push({ path: rel, code, message });
      continue;
    }
    if (flags === 1) {
      errors.push({ path: rel, code: 'ENOENT', message: `vanished before it could be read: ${rel}` });
      continue;
    }
    entries.push({
      relPath: rel,
      name: rel.slice(rel.lastIndexOf('/') + 1),
      isDir: (flags & 4) !== 0,
      isSymlink: (flags & 8) !== 0,
      size: st.size[i]!,
      mtimeMs: st.mtimeMs[i]!,
      inode: st.ino[i]!,
      dev: st.dev[i]!,
      special: flags >= 16 ? SPECIAL_OF[flags >> 4] : undefined,
    });
  }
  const cursor = rels.length > 0 ? rels[rels.length - 1]! : cursorBefore;
  return { entries, errors, cursor };
}

const assemblePlanned = (b: PlannedBatch, st: LstatColumns, cursorBefore: string | undefined): WalkBatch =>
  assemble(
    b.items.map((i) => i.rel),
    b.errors,
    st,
    cursorBefore,
  );

/** lstat of a batch on this thread, in the pool's column form (the stat workers run this too). */
export function lstatColumns(paths: readonly (string | Buffer)[]): LstatColumns {
  const n = paths.length;
  const out: LstatColumns = {
    flags: new Uint8Array(n),
    size: new Float64Array(n),
    mtimeMs: new Float64Array(n),
    ino: new BigUint64Array(n),
    dev: new BigUint64Array(n),
    errors: [],
  };
  const fast = fastLstat();
  const st: RawStat = { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n };
  for (let i = 0; i < n; i++) {
    try {
      if (!(fast ? fast(paths[i]!, st) : nodeLstat(paths[i]!, st))) {
        out.flags[i] = 1;
        continue;
      }
      const fmt = st.mode & S_IFMT;
      const link = fmt === S_IFLNK;
      const dir = fmt === S_IFDIR;
      const special = fmt === S_IFREG || link || dir ? 0 : (SPECIAL_BITS[fmt] ?? 0);
      out.flags[i] = 2 | (dir ? 4 : 0) | (link ? 8 : 0) | special;
      out.size[i] = dir ? 0 : st.size;
      out.mtimeMs[i] = Number(st.mtimeNs) / 1e6;
      out.ino[i] = st.ino;
      out.dev[i] = st.dev;
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      out.errors.push([i, typeof code === 'string' ? code : 'E_INTERNAL', e instanceof Error ? e.message : String(e)]);
    }
  }
  return out;
}

/** Node's lstat into `out` (false when the path does not exist): where statx cannot be called. */
function nodeLstat(path: string | Buffer, out: RawStat): boolean {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return false;
  out.mode = Number(st.mode);
  out.size = Number(st.size);
  out.mtimeNs = st.mtimeNs;
  out.ino = st.ino;
  out.dev = st.dev;
  return true;
}

/** Synchronous walk: listing and lstat on this thread. */
export function* walkSync(
  root: string | Buffer,
  rules: WalkRules = {},
  options: WalkOptions = {},
): Generator<WalkBatch> {
  let cursor = options.startAfter;
  for (const b of plan(root, rules, options)) {
    const out = assemblePlanned(b, lstatColumns(b.items.map((i) => i.fs)), cursor);
    cursor = out.cursor;
    yield out;
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

/** How many planned batches may be at the stat workers at once. */
const STAT_AHEAD = 4;

/**
 * Async form: the event loop gets control back between batches. With `stat` (a pool's lstat),
 * the per-entry lstat calls run on worker threads, several batches ahead of the consumer, while
 * this thread lists folders and the consumer diffs: same batches, same order as walkSync.
 */
export async function* walk(
  root: string | Buffer,
  rules: WalkRules = {},
  options: WalkOptions & {
    stat?: (paths: readonly (string | Buffer)[]) => Promise<LstatColumns>;
    /** Whether `stat`'s threads have started; until then batches are lstat'ed here. */
    statReady?: () => boolean;
    /** The whole walk on a thread of the pool (used once its threads have started). */
    remote?: (req: RemoteWalkRequest) => AsyncGenerator<WalkPart>;
  } = {},
): AsyncGenerator<WalkBatch> {
  // A test's listing hook runs here, so such a walk stays on this thread.
  const remote = options.onDirListed ? undefined : options.remote;
  const onThread = async function* (startAfter: string | undefined): AsyncGenerator<WalkBatch> {
    let cursor = startAfter;
    const { batchSize, exclude } = options;
    for await (const part of remote!({ root, rules, startAfter, batchSize, exclude })) {
      const out = assemble(part.rels, part.errors, part.stats, cursor);
      cursor = out.cursor;
      yield out;
    }
  };
  if (remote && options.statReady?.() !== false) {
    yield* onThread(options.startAfter);
    return;
  }
  const stat = options.stat;
  if (!stat) {
    for (const batch of walkSync(root, rules, options)) {
      yield batch;
      await new Promise<void>((r) => setImmediate(r));
    }
    return;
  }
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const planner = plan(root, rules, options);
  const ahead: Array<{ batch: PlannedBatch; st: Promise<LstatColumns> }> = [];
  let planned = false;
  // Once the pool's threads have started, what is left of the walk moves to one of them.
  let handOff = false;
  const fill = (): void => {
    if (remote && !planned && options.statReady?.() === true) planned = handOff = true;
    while (!planned && ahead.length < STAT_AHEAD) {
      const r = planner.next();
      if (r.done) {
        planned = true;
        break;
      }
      const paths = r.value.items.map((i) => i.fs);
      // A short batch (a small walk, or the end of one) is cheaper here than a worker round trip.
      // So is a batch planned before the threads started: a small rescan is over before they would be.
      const st =
        paths.length < batchSize || options.statReady?.() === false
          ? Promise.resolve(lstatColumns(paths))
          : stat(paths);
      st.catch(() => undefined); // awaited below in order; an early exit must not leave it unhandled
      ahead.push({ batch: r.value, st });
    }
  };
  let cursor = options.startAfter;
  try {
    fill();
    // Bounded by the tree: each pass takes one planned batch.
    while (ahead.length > 0) {
      const { batch, st } = ahead.shift()!;
      const out = assemblePlanned(batch, await st, cursor);
      cursor = out.cursor;
      fill();
      yield out;
    }
  } finally {
    planner.return(undefined);
  }
  // Every batch planned here was yielded: the thread goes on after the last one's cursor.
  if (handOff) yield* onThread(cursor);
}

/** Collects a whole walk; for tests and small trees. */
export async function walkAll(
  root: string,
  rules: WalkRules = {},
  options: WalkOptions = {},
): Promise<{ entries: WalkEntry[]; errors: WalkError[] }> {
  const entries: WalkEntry[] = [];
  const errors: WalkError[] = [];
  for await (const b of walk(root, rules, options)) {
    entries.push(...b.entries);
    errors.push(...b.errors);
  }
  return { entries, errors };
}
