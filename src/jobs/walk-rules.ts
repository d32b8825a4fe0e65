// Which names a walk passes by, gitignore aside: hidden names, skipped names, and our own folders
// at a location's top. The walk, a location's watch, the scoped rescans and file operations ask
// the same, so what one skips the others do.
import { ESCAPE_MARK } from './names.js';

export interface WalkRules {
  /** Skip names starting with '.' (default true). */
  skipHidden?: boolean;
  /** Exact names (files or folders) to skip (default DEFAULT_SKIP_NAMES). */
  skipNames?: readonly string[];
  /** Honour .gitignore files, each for its own folder and below (default false). */
  gitignore?: boolean;
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

/** A hidden name in string form: '.' first, in its bytes too (an escaped name that is not UTF-8). */
export function isHidden(name: string): boolean {
  return name.charCodeAt(0) === 0x2e || name.startsWith(`${ESCAPE_MARK}.`);
}

/**
 * Whether a walk with these rules passes a relative path by (a name of it hidden or skipped, or
 * our own work at the top), gitignore aside. The walk, a location's watch, the scoped rescans and
 * file operations ask the same, so what one skips the others do.
 */
export function ruleSkipper(rules: WalkRules): (rel: string) => boolean {
  const skipHidden = rules.skipHidden ?? true;
  const skipNames = new Set(rules.skipNames ?? DEFAULT_SKIP_NAMES);
  return (rel) =>
    rel !== '' &&
    (NEVER_INDEXED.has(rel.split('/', 1)[0]!) ||
      rel.split('/').some((n) => (skipHidden && isHidden(n)) || skipNames.has(n)));
}
