// sd mv / sd cp / sd rename: planning. Every source is placed (inside a location, through real
// paths), every conflict is named, and --on-conflict decides; the plan's steps are what commit runs.
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { encodePath, fsPathOfAbs } from '../../jobs/names.js';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { CommandCtx, Conflict, PlanBody, PlanChange, PreviewCtx } from '../define.js';
import { defineCommand } from '../define.js';
import { TRASH_DIR, checkName, checkRawPath, freeName, isInside, lstat, place, stampOf, type Place } from './paths.js';
import { manifestOf, type Manifest, type Step } from './steps.js';
import { commitOp, verifyOp, type OpData } from './verify.js';

export const OnConflict = z.enum(['skip', 'overwrite', 'rename']).optional();
const MAX_CHANGES = 1000;

/** A move into the location's trash; the id is derived from the state, so a preview is repeatable. */
export function trashStep(ctx: PreviewCtx, p: Place, m: Manifest, reason: 'removed' | 'overwritten'): Step {
  const last = ctx.lib.db.prepare("SELECT name FROM sqlite_master WHERE name = 'intents'").get()
    ? (
        ctx.lib.db.prepare('SELECT id FROM intents ORDER BY created_at DESC LIMIT 1').get() as
          { id: string } | undefined
      )?.id
    : undefined;
  const stamp = stampOf(lstat(p.abs));
  const id = `${Math.floor(Date.now() / 86_400_000).toString(36)}-${createHash('sha256')
    .update(JSON.stringify([p.abs, stamp, last ?? '']))
    .digest('hex')
    .slice(0, 12)}`;
  const to = join(p.loc.path, TRASH_DIR, id, basename(p.abs));
  return {
    k: 'move',
    from: p.abs,
    to,
    fromRoot: p.loc.path,
    toRoot: p.loc.path,
    stamp,
    fromLoc: p.loc.id,
    fromKey: p.key,
    toLoc: null,
    trash: { id, loc: p.loc.id, orig: p.abs, reason },
    manifest: m,
  };
}

/** One change per file (and the top folder), capped so a huge tree gives a readable plan. */
export function listChanges(changes: PlanChange[], op: string, root: string, m: Manifest, detail?: string): void {
  for (const [rel, t, size] of m.items) {
    if (t === 1 && rel !== '') continue;
    if (changes.length === MAX_CHANGES)
      changes.push({ op: '...', target: 'more files', detail: 'the plan lists the first 1000 files' });
    if (changes.length > MAX_CHANGES) return;
    changes.push({
      op,
      target: rel === '' ? root : `${root}/${rel}`,
      ...(detail && rel === '' ? { detail } : {}),
      ...(t === 0 ? { bytes: size } : {}),
    });
  }
}

function destinationDir(ctx: PreviewCtx, dest: string): { dir: string | null; place: Place } {
  const dev = ctx.core.device.id;
  const dp = place(ctx.lib.db, dev, dest, { allowRoot: true });
  const st = lstat(dp.abs);
  if (st?.isDirectory()) return { dir: dp.abs, place: dp };
  if (st?.isSymbolicLink()) {
    let real: string | undefined;
    try {
      real = encodePath(realpathSync.native(fsPathOfAbs(dp.abs), { encoding: 'buffer' }));
    } catch {
      real = undefined;
    }
    if (real && statSync(fsPathOfAbs(real)).isDirectory())
      return { dir: place(ctx.lib.db, dev, real, { allowRoot: true }).abs, place: dp };
  }
  return { dir: null, place: dp };
}

export async function planTransfer(
  ctx: PreviewCtx,
  kind: 'move' | 'copy',
  sources: string[],
  dest: string,
  onConflict: 'skip' | 'overwrite' | 'rename' | undefined,
  exact: boolean,
): Promise<PlanBody<OpData>> {
  const db = ctx.lib.db;
  const dev = ctx.core.device.id;
  for (const s of sources) checkRawPath(s);
  checkRawPath(dest);
  const { dir, place: dp } = exact ? { dir: null, place: place(db, dev, dest) } : destinationDir(ctx, dest);
  if (sources.length > 1 && !dir)
    throw new SdError('E_BAD_INPUT', `${dest} must be an existing folder to ${kind} several items into it`, {
      path: dest,
    });
  const steps: Step[] = [];
  const changes: PlanChange[] = [];
  const conflicts: Conflict[] = [];
  const warnings: string[] = [];
  const stamps: OpData['stamps'] = [];
  const taken = new Set<string>();
  let files = 0;
  let bytes = 0;
  for (const s of sources) {
    const src = place(db, dev, s);
    const st = lstat(src.abs);
    if (!st) throw new SdError('E_PATH_NOT_FOUND', `${src.abs} does not exist`, { path: src.abs });
    let tgt = place(db, dev, dir ? join(dir, basename(src.abs)) : dp.abs);
    const tSt = lstat(tgt.abs);
    stamps.push([src.abs, stampOf(st)], [tgt.abs, stampOf(tSt)]);
    const same = src.abs === tgt.abs || (!!tSt && tSt.ino === st.ino && tSt.dev === st.dev);
    let c: Conflict | undefined;
    if (!same && st.isDirectory() && isInside(tgt.abs, src.abs))
      c = {
        code: 'E_DEST_INSIDE_SOURCE',
        target: tgt.abs,
        message: `${tgt.abs} is inside the folder ${src.abs} being ${kind === 'move' ? 'moved' : 'copied'}`,
      };
    else if (same) c = { code: 'E_SAME_FILE', target: tgt.abs, message: `${src.abs} and ${tgt.abs} are the same file` };
    else if (tSt || taken.has(tgt.abs))
      c = { code: 'E_DEST_EXISTS', target: tgt.abs, message: `${tgt.abs} already exists` };
    let aside = false;
    if (c) {
      if (onConflict === 'skip') {
        changes.push({ op: 'skip', target: src.abs, detail: c.message });
        continue;
      }
      if (onConflict === 'rename' && c.code !== 'E_DEST_INSIDE_SOURCE') {
        tgt = place(db, dev, freeName(dirname(tgt.abs), basename(tgt.abs), taken));
        c = undefined;
      } else if (onConflict === 'overwrite' && c.code === 'E_DEST_EXISTS' && tSt) {
        if (isInside(src.abs, tgt.abs))
          c = {
            code: 'E_SOURCE_INSIDE_DEST',
            target: tgt.abs,
            message: `${src.abs} is inside ${tgt.abs}, which would be overwritten`,
          };
        else {
          aside = true;
          c = undefined;
        }
      }
      if (c) {
        conflicts.push(c);
        continue;
      }
    }
    taken.add(tgt.abs);
    if (aside) {
      const old = await manifestOf(tgt.loc.path, tgt.abs, false);
      steps.push(trashStep(ctx, tgt, old, 'overwritten'));
      changes.push({
        op: 'overwrite',
        target: tgt.abs,
        detail: `${old.files} file(s); the existing one goes to the trash`,
        bytes: old.bytes,
      });
    }
    const m = await manifestOf(src.loc.path, src.abs, true, { db, loc: src.loc.id, key: src.key });
    const cross = kind === 'move' && lstat(dirname(tgt.abs))?.dev !== st.dev;
    if (cross)
      warnings.push(`${src.abs} is on another filesystem than ${tgt.abs}: it will be copied, verified, then deleted`);
    const specials = m.items.filter((i) => i[1] === 3);
    if (specials.length && (kind === 'copy' || cross)) {
      const what = `${specials.length} named pipe(s), socket(s) or device(s), e.g. ${src.abs}${specials[0]![0] ? `/${specials[0]![0]}` : ''}`;
      if (kind === 'copy') warnings.push(`${what}: never opened, so not copied`);
      else {
        conflicts.push({
          code: 'E_SPECIAL_FILE',
          target: src.abs,
          message: `${src.abs} holds ${what}, which a move across filesystems cannot copy; move them apart first`,
        });
        continue;
      }
    }
    steps.push({
      k: kind,
      from: src.abs,
      to: tgt.abs,
      fromRoot: src.loc.path,
      toRoot: tgt.loc.path,
      stamp: stampOf(st),
      fromLoc: src.loc.id,
      fromKey: src.key,
      toLoc: tgt.loc.id,
      toKey: tgt.key,
      cross,
      manifest: m,
    });
    listChanges(
      changes,
      kind === 'move' ? 'move' : 'create',
      tgt.abs,
      m,
      `${kind === 'move' ? 'from' : 'copy of'} ${src.abs}${cross ? ' (across filesystems: copy, verify, delete)' : ''}`,
    );
    files += m.files;
    bytes += m.bytes;
  }
  const n = steps.filter((x) => !x.trash).length;
  return {
    summary: `${kind} ${n} item(s) (${files} file(s), ${bytes} bytes) to ${dir ?? dp.abs}`,
    changes,
    warnings,
    conflicts,
    data: { steps, stamps },
  };
}

const sources = z.array(z.string()).min(1).max(100_000);

export const moveEntries = defineCommand({
  name: 'entry.mv',
  summary: 'move files and folders (rename(2), or copy + verify + delete across filesystems)',
  input: z.object({ sources, dest: z.string().min(1), onConflict: OnConflict }),
  preview: (ctx, i) => planTransfer(ctx, 'move', i.sources, i.dest, i.onConflict, false),
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});

export const copyEntries = defineCommand({
  name: 'entry.cp',
  summary: 'copy files and folders, verified by content id',
  input: z.object({ sources, dest: z.string().min(1), onConflict: OnConflict }),
  preview: (ctx, i) => planTransfer(ctx, 'copy', i.sources, i.dest, i.onConflict, false),
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});

export const renameEntry = defineCommand({
  name: 'entry.rename',
  summary: 'rename a file or folder in place',
  input: z.object({ path: z.string().min(1), name: z.string().min(1), onConflict: OnConflict }),
  preview: (ctx, i) => {
    checkRawPath(i.path);
    checkName(i.name);
    return planTransfer(ctx, 'move', [i.path], join(dirname(i.path), i.name), i.onConflict, true);
  },
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});
