// Commit and verify shared by every file operation. Verify re-reads the disk (size and content
// id of every destination file, sources gone) and the index; where the disk is not what the
// plan expected, the index is set to what the disk holds, so `sd info` shows the real state.
import type { Check, CommandCtx, Plan } from '../define.js';
import { check } from '../define.js';
import type { Library } from '../../library/library.js';
import { SEP } from '../../projections/entries.js';
import { withParent, withParentAsync } from './confine.js';
import { syncPath } from './index-events.js';
import { applySteps, type Applied } from './intents.js';
import { indexable, type Stamp } from './paths.js';
import type { Step } from './steps.js';
import { compareTree } from './tree.js';

export interface OpData {
  steps: Step[];
  /** [path, [t, size, mtimeMs, inode] | null] of every source and destination: part of the fingerprint. */
  stamps: [string, Stamp][];
}

/** Test seam: runs after commit and before verify (e.g. to change the disk in between). */
export const testHooks: { afterCommit?: (steps: Step[]) => void } = {};

export async function commitOp({ lib }: CommandCtx, plan: Plan<OpData>): Promise<Applied> {
  const applied = await applySteps(lib, plan.command, plan.data!.steps);
  testHooks.afterCommit?.(plan.data!.steps);
  return applied;
}

const row = (lib: Library, loc: string, key: string) =>
  lib.db.prepare('SELECT t, size, cid FROM entries WHERE loc = ? AND key = ?').get(loc, key) as
    { t: number; size: number; cid: string | null } | undefined;

function wantIndexed(lib: Library, loc: string, key: string): boolean {
  const r = lib.db.prepare('SELECT rules FROM locations WHERE id = ?').get(loc) as { rules: string } | undefined;
  return !!r && indexable(JSON.parse(r.rules), key.split(SEP).join('/'));
}

/** 'absent', 'present', or 'unsafe' when a folder on the way is a link now (verify never follows one). */
function where(root: string | undefined, abs: string): 'absent' | 'present' | 'unsafe' {
  if (!root) return 'absent';
  try {
    return withParent(root, abs, (d, n) => (d.lstat(n) ? 'present' : 'absent'));
  } catch (e) {
    return (e as { code?: string }).code === 'E_PATH_NOT_FOUND' ? 'absent' : 'unsafe';
  }
}

export async function verifyOp({ lib }: CommandCtx, plan: Plan<OpData>, applied: Applied): Promise<Check[]> {
  const checks: Check[] = [];
  const fix: Step[] = [];
  for (const i of applied.ran) {
    const s = plan.data!.steps[i]!;
    // An overwritten destination set aside: the next step puts the new item at its path.
    const aside = s.trash?.reason === 'overwritten';
    if ((s.k === 'delete' || s.k === 'move') && !aside) {
      const w = where(s.fromRoot, s.from!);
      checks.push(
        check(
          w === 'absent',
          `${s.from} is gone`,
          w === 'present'
            ? `${s.from} is still on disk`
            : w === 'unsafe'
              ? 'a folder on its way is now a symlink'
              : undefined,
        ),
      );
      if (s.fromLoc && !(s.k === 'move' && s.toLoc === s.fromLoc && s.toKey === s.fromKey)) {
        checks.push(check(!row(lib, s.fromLoc, s.fromKey!), `${s.from} is out of the index`));
      }
    }
    if (s.k === 'mkdir') {
      let dir = false;
      try {
        dir = withParent(s.toRoot!, s.to!, (d, n) => !!d.lstat(n)?.isDirectory());
      } catch {
        dir = false;
      }
      checks.push(check(dir, `${s.to} is a folder`));
    }
    if ((s.k === 'move' || s.k === 'copy') && s.manifest) {
      let bad: string[];
      try {
        // A rename rewrites no content: unchanged files (size, mtime) are not hashed again.
        const renamed = s.k === 'move' && !s.cross;
        bad = await withParentAsync(s.toRoot!, s.to!, (d, n) => compareTree(d, n, s.manifest!.items, renamed));
      } catch (e) {
        bad = [(e as Error).message];
      }
      checks.push(
        check(
          bad.length === 0,
          `${s.to} has the expected size and content (${s.manifest.files} file(s), ${s.manifest.bytes} bytes)`,
          bad.length ? bad.slice(0, 10).join('; ') : undefined,
        ),
      );
      if (bad.length) fix.push(s);
    }
    if (s.toLoc && wantIndexed(lib, s.toLoc, s.toKey!)) {
      const r = row(lib, s.toLoc, s.toKey!);
      const cid = s.manifest?.items[0]?.[4] ?? null;
      checks.push(
        check(
          !!r && (cid === null || r.cid === cid),
          `${s.to} is in the index${cid ? ' with its content id' : ''}`,
          r ? (cid && r.cid !== cid ? `index has content id ${r.cid ?? '(none)'}` : undefined) : 'no index entry',
        ),
      );
    }
  }
  if (fix.length) {
    // The disk is the truth: index what is there, without the content ids the plan expected.
    lib.write(() => {
      for (const s of fix) if (s.toLoc) syncPath(lib, s.toLoc!, s.toKey!, s.to!);
    });
  }
  lib.db.prepare('UPDATE intents SET verify = ? WHERE id = ?').run(JSON.stringify(checks), applied.intent);
  return checks;
}
