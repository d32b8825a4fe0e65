// Where an index job reads from: the location's folder, pinned as the job starts (root-pin.ts),
// the folders a scoped rescan walks, and the .gitignore files above them.
import { lstatSync, statSync, type BigIntStats } from 'node:fs';
import { beneath, closeRoot, locationChanged, openLocationRoot, relOfKey, type RootPin } from './beneath.js';
import { SdError } from '../errors.js';
import { toKey } from '../projections/entries.js';
import { fsPathOf } from './names.js';
import type { WalkRules } from './walk.js';
import { ruleSkipper } from './walk-rules.js';
import { gitignoreAbove, type GitignoreAbove } from './gitignore.js';
import { folderIdOf, sameFolder, type FolderId } from './location-folder.js';
import type { IndexCheckpoint, IndexInput } from './index-checkpoint.js';

/**
 * The location's folder now, which a resumed job must find as it first did (in its checkpoint).
 * No folder there: the job cannot run (as its walk would say), rather than run unpinned.
 */
export function pinLocation(path: string, cp: IndexCheckpoint): RootPin {
  // Refused as the walk refuses the location (walk-plan.ts plan), with the same codes and the errno.
  let st: BigIntStats;
  try {
    st = statSync(fsPathOf(path, ''), { bigint: true });
  } catch (e) {
    throw new SdError('E_LOCATION_UNREADABLE', `the location ${path} cannot be read: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new SdError('E_LOCATION_NOT_DIR', `the location ${path} is not a folder`);
  const now = folderIdOf(st, fsPathOf(path, ''));
  if (cp.pin && !sameFolder(pinnedFolder(cp), now, true)) throw locationChanged(path);
  cp.pin = [now.dev, now.ino, now.btime, now.boot, now.fs, now.mount];
  return { dev: st.dev, ino: st.ino };
}

/** The folder a job's checkpoint pinned (one kept before this build: its device and inode only). */
export function pinnedFolder(cp: IndexCheckpoint): FolderId {
  const [dev, ino, btime = '', boot = '', fs = '', mount = ''] = cp.pin!;
  return { dev, ino, btime, boot, fs, mount };
}

/**
 * The .gitignore files above a scope, read below the pinned root without following a symlink
 * (beneath.ts), where that can be done: a folder above the scope swapped since cannot lend its rules.
 */
export function ignoresAbove(root: string, scope: string, pin: RootPin): GitignoreAbove[] {
  const b = beneath();
  if (!b) return gitignoreAbove(root, scope).above;
  const rootFd = openLocationRoot(fsPathOf(root, ''), pin);
  try {
    return gitignoreAbove(root, scope, (rel, flags) => b.open(rootFd, relOfKey(toKey(rel)), flags)).above;
  } finally {
    closeRoot(rootFd);
  }
}

/**
 * The folder itself if it is there, else its nearest ancestor that is. "There" is a folder at
 * every step from the location's root, none a symlink: one swapped in for the scope (or above
 * it) after its change was heard is an entry of its parent, walked as such, never followed (the
 * walk of a scope would otherwise have indexed what it points to, outside the location).
 */
export function surviving(root: string, s: string): string {
  if (s === '') return s;
  const parts = s.split('/');
  let n = 0;
  for (; n < parts.length; n++) {
    const st = lstatSync(fsPathOf(root, parts.slice(0, n + 1).join('/')), { throwIfNoEntry: false });
    if (!st?.isDirectory()) break;
  }
  return parts.slice(0, n).join('/');
}

export function scopesOf(root: string, rules: WalkRules, input: IndexInput): string[] {
  if (!input.scope || input.scope.length === 0 || input.scope.includes('')) return [''];
  // A folder that vanished is rescanned from its nearest surviving ancestor. One the rules skip
  // holds nothing to index: the walk applies them below a scope only, never to the scope itself.
  // One a .gitignore above ignores is walked, with those files applied: it yields nothing, and
  // what the index held in it goes (it was indexed before the .gitignore said so).
  const skipped = ruleSkipper(rules);
  const out = new Set<string>();
  for (const s of input.scope.filter((x) => !skipped(x))) out.add(surviving(root, s));
  if (out.has('')) return [''];
  // Drop folders inside another scope folder: walking the outer one covers them.
  const sorted = [...out].sort();
  return sorted.filter((s) => !sorted.some((o) => o !== s && s.startsWith(`${o}/`)));
}
