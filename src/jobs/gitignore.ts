// The .gitignore side of a walk's rules (walk-plan.ts): reading a .gitignore safely, the levels
// of patterns a walk carries down, whether a path is ignored by them, and, for a walk of one
// folder inside a location (a scoped rescan), the .gitignore files of the folders above it.
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ignore } from 'ignore';
import { fsPathOf } from './names.js';

/**
 * A .gitignore of a folder above a scoped walk's root, and the root's path from that folder
 * ('b/c/' for the file of `a` and a walk of `a/b/c`): its patterns apply below, as in git.
 */
export interface GitignoreAbove {
  prefix: string;
  text: string;
}

export interface IgnoreLevel {
  base: string;
  ig: Ignore;
  /** A level above the walk's root: paths are tested as prefix + the walk's relative path. */
  prefix?: string;
}

export function gitIgnored(levels: readonly IgnoreLevel[], relPath: string, isDir: boolean): boolean {
  let ignored = false;
  for (const { base, ig, prefix } of levels) {
    const rel = prefix !== undefined ? prefix + relPath : base === '' ? relPath : relPath.slice(base.length + 1);
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
export const newIgnore = (): Ignore => (ignoreFactory ??= createRequire(import.meta.url)('ignore') as () => Ignore)();

/** Bytes of a .gitignore read at most (git's own files are a few KiB). */
const GITIGNORE_MAX = 1 << 20;

/**
 * A .gitignore's text. Opened without blocking and without following a symlink (as git): a FIFO
 * by that name would otherwise hold the thread that reads it for good. Anything but a regular
 * file, or one past GITIGNORE_MAX, is refused.
 */
export function readGitignore(
  path: string | Buffer,
  open: (flags: number) => number = (f) => openSync(path, f),
): string {
  const fd = open(fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error(`${String(path)} is not a file`), { code: 'E_NOT_A_FILE' });
    if (st.size > GITIGNORE_MAX)
      throw Object.assign(new Error(`${String(path)} is larger than ${GITIGNORE_MAX} bytes`), {
        code: 'E_FILE_TOO_LARGE',
      });
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * For a walk of `scope` (a folder's relative path in string form) inside the location at `root`:
 * the .gitignore files of the folders above it, from the top, and whether they ignore the scope
 * or a folder on the way to it. A file that cannot be read counts as absent, as in a walk of the
 * whole location (which also reports it as an error; this does not).
 */
export function gitignoreAbove(
  root: string,
  scope: string,
  /** Opens a file by its path from the root ('/'-separated, names in the walk's string form), e.g. below its descriptor. */
  openBelow?: (rel: string, flags: number) => number,
): { ignored: boolean; above: GitignoreAbove[] } {
  const parts = scope === '' ? [] : scope.split('/');
  const above: GitignoreAbove[] = [];
  const levels: IgnoreLevel[] = [];
  for (let i = 0; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    try {
      const rel = dir === '' ? '.gitignore' : `${dir}/.gitignore`;
      const text = readGitignore(fsPathOf(root, rel), openBelow && ((flags) => openBelow(rel, flags)));
      const prefix = `${parts.slice(i).join('/')}/`;
      above.push({ prefix, text });
      levels.push({ base: dir, ig: newIgnore().add(text) });
    } catch {
      // none there
    }
    // The next folder down, tested as the walk would have met it.
    if (levels.length > 0 && gitIgnored(levels, parts.slice(0, i + 1).join('/'), true)) return { ignored: true, above };
  }
  return { ignored: false, above };
}

/** The levels of the .gitignore files above a walk's root, applied below it. */
export function levelsAbove(above: readonly GitignoreAbove[]): IgnoreLevel[] {
  return above.map((a) => ({ base: '', ig: newIgnore().add(a.text), prefix: a.prefix }));
}
