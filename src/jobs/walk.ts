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
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import ignore, { type Ignore } from 'ignore';
import { SdError } from '../errors.js';
import { ESCAPE_MARK, encodeName } from './names.js';

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
}

export interface WalkError { path: string; code: string; message: string }

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
  /** Test seam: called after a folder is listed and before its entries are lstat'ed. */
  onDirListed?: (dirRelPath: string, names: readonly string[]) => void;
}

export interface WalkBatch {
  entries: WalkEntry[];
  errors: WalkError[];
  /** relPath of the last entry in this batch; store it to resume after this batch. */
  cursor: string | undefined;
}

export const DEFAULT_SKIP_NAMES: readonly string[] = [
  '.git', '.hg', '.svn', 'node_modules', '.DS_Store', 'Thumbs.db', 'desktop.ini', '.Trash', '.Trashes',
  '.Spotlight-V100', '.fseventsd', '$RECYCLE.BIN', 'System Volume Information',
];

interface IgnoreLevel { base: string; ig: Ignore }

interface Frame {
  rel: string;
  fs: string | Buffer;
  names: string[];
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
  return { path, code: typeof code === 'string' ? code : 'E_INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

// Lists a folder; names are re-read as bytes only when one does not round-trip through UTF-8.
function listDir(fsPath: string | Buffer): { names: string[]; raw: Map<string, Buffer> | undefined } {
  const names = readdirSync(fsPath);
  if (!names.some((n) => n.includes(ESCAPE_MARK))) return { names: names.sort(), raw: undefined };
  const raw = new Map<string, Buffer>();
  const out: string[] = [];
  for (const b of readdirSync(fsPath, { encoding: 'buffer' })) {
    const n = encodeName(b);
    if (n.startsWith(ESCAPE_MARK)) raw.set(n, b);
    out.push(n);
  }
  return { names: out.sort(), raw };
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

function loadGitignore(fsDir: string | Buffer, rel: string, levels: IgnoreLevel[], errors: WalkError[]): IgnoreLevel[] {
  try {
    const text = readFileSync(join(fsDir, '.gitignore', undefined), 'utf8');
    return [...levels, { base: rel, ig: ignore().add(text) }];
  } catch (e) {
    errors.push(errOf(rel === '' ? '.gitignore' : `${rel}/.gitignore`, e));
    return levels;
  }
}

/** Synchronous walk; each batch costs only syscalls on already-listed names. */
export function* walkSync(root: string, rules: WalkRules = {}, options: WalkOptions = {}): Generator<WalkBatch> {
  const skipHidden = rules.skipHidden ?? true;
  const skipNames = new Set(rules.skipNames ?? DEFAULT_SKIP_NAMES);
  const useGitignore = rules.gitignore ?? false;
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const rootFs = root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root;

  let rootStat: BigIntStats;
  try {
    rootStat = statSync(rootFs, { bigint: true });
  } catch (e) {
    throw new SdError('E_LOCATION_UNREADABLE', `the location ${root} cannot be read: ${(e as Error).message}`);
  }
  if (!rootStat.isDirectory()) throw new SdError('E_LOCATION_NOT_DIR', `the location ${root} is not a folder`);

  let entries: WalkEntry[] = [];
  let errors: WalkError[] = [];
  let cursor = options.startAfter;
  const stack: Frame[] = [];

  const open = (rel: string, fs: string | Buffer, parentLevels: IgnoreLevel[], resume: string[] | undefined): boolean => {
    let listed: { names: string[]; raw: Map<string, Buffer> | undefined };
    try {
      listed = listDir(fs);
    } catch (e) {
      if (rel === '') throw new SdError('E_LOCATION_UNREADABLE', `the location ${root} cannot be listed: ${(e as Error).message}`);
      errors.push(errOf(rel, e));
      return false;
    }
    options.onDirListed?.(rel, listed.names);
    const levels = useGitignore && listed.names.includes('.gitignore') ? loadGitignore(fs, rel, parentLevels, errors) : parentLevels;
    let i = 0;
    if (resume) {
      // Siblings sorting before the cursor component were handled before the checkpoint.
      const first = resume[0]!;
      while (i < listed.names.length && listed.names[i]! < first) i++;
    }
    stack.push({ rel, fs, names: listed.names, raw: listed.raw, i, levels, resume });
    return true;
  };

  const cursorParts = options.startAfter ? options.startAfter.split('/').filter((p) => p !== '') : undefined;
  open('', rootFs, [], cursorParts && cursorParts.length > 0 ? cursorParts : undefined);

  // Bounded: every pass consumes one name or pops one frame; symlinks are never descended.
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.i >= f.names.length) { stack.pop(); continue; }
    const name = f.names[f.i++]!;
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
    // The trash of file operations (ops/entry) is never indexed, even with hidden files included.
    if (f.rel === '' && name === '.vdfs-trash') continue;
    const rel = f.rel === '' ? name : `${f.rel}/${name}`;
    const fsPath = join(f.fs, name, f.raw?.get(name));
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(fsPath, { bigint: true, throwIfNoEntry: false });
    } catch (e) {
      errors.push(errOf(rel, e));
      continue;
    }
    if (st === undefined) {
      errors.push({ path: rel, code: 'ENOENT', message: `vanished before it could be read: ${rel}` });
      continue;
    }
    const isSymlink = st.isSymbolicLink();
    const isDir = !isSymlink && st.isDirectory();
    if (useGitignore && f.levels.length > 0 && gitIgnored(f.levels, rel, isDir)) continue;
    if (emit) {
      entries.push({
        relPath: rel, name, isDir, isSymlink, size: isDir ? 0 : Number(st.size),
        mtimeMs: Number(st.mtimeNs) / 1e6, inode: st.ino, dev: st.dev,
      });
    }
    // The cursor entry itself was handled, but its children come after it, so descend.
    if (isDir) open(rel, fsPath, f.levels, resumeRest);
    if (entries.length >= batchSize) {
      cursor = entries[entries.length - 1]!.relPath;
      yield { entries, errors, cursor };
      entries = [];
      errors = [];
    }
  }
  if (entries.length > 0 || errors.length > 0) {
    yield { entries, errors, cursor: entries.length > 0 ? entries[entries.length - 1]!.relPath : cursor };
  }
}

/** Async form: the event loop gets control back between batches. */
export async function* walk(root: string, rules: WalkRules = {}, options: WalkOptions = {}): AsyncGenerator<WalkBatch> {
  for (const batch of walkSync(root, rules, options)) {
    yield batch;
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Collects a whole walk; for tests and small trees. */
export async function walkAll(root: string, rules: WalkRules = {}, options: WalkOptions = {}): Promise<{ entries: WalkEntry[]; errors: WalkError[] }> {
  const entries: WalkEntry[] = [];
  const errors: WalkError[] = [];
  for await (const b of walk(root, rules, options)) { entries.push(...b.entries); errors.push(...b.errors); }
  return { entries, errors };
}
