// sd trash list / restore / empty. Removed items wait in <location>/.vdfs-trash/<id>/<name> (a
// private folder the indexer skips); where they came from is a projection of the log
// (projections/trash.ts), so a replay rebuilds the same list.
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { Db } from '../../library/library.js';
import type { Conflict, PlanChange } from '../define.js';
import { defineCommand, defineQuery } from '../define.js';
import { freeName, lstat, place, stampOf } from './paths.js';
import { manifestOf, type Step } from './steps.js';
import { OnConflict, listChanges, trashStep } from './transfer.js';
import { commitOp, verifyOp, type OpData } from './verify.js';
import type { ReadDb } from '../host.js';

interface TrashRow {
  id: string;
  batch: string;
  loc: string;
  root: string;
  orig: string;
  path: string;
  reason: string;
  files: number;
  bytes: number;
  deleted_at: number;
}

/** This device's trash items (its own locations), newest first, with absolute paths. */
function rows(db: ReadDb, dev: string, where = '1', ...args: unknown[]): TrashRow[] {
  return db
    .prepare(
      `SELECT t.id, t.batch, t.loc, l.path AS root, l.path || '/' || t.orig AS orig, l.path || '/' || t.item AS path,
         t.reason, t.files, t.bytes, t.deleted_at
       FROM trash_items t JOIN locations l ON l.id = t.loc AND l.dev = t.dev
       WHERE t.dev = ? AND (${where}) ORDER BY t.deleted_at DESC, t.id`,
    )
    .all(dev, ...args) as TrashRow[];
}

export const listTrash = defineQuery({
  name: 'trash.list',
  summary: 'items in the trash, newest first',
  input: z.object({}),
  run: ({ core, db }) =>
    rows(db, core.device.id).map((r) => ({
      id: r.id,
      originalPath: r.orig,
      trashPath: r.path,
      reason: r.reason,
      files: r.files,
      bytes: r.bytes,
      deletedAt: r.deleted_at,
    })),
});

function pick(db: ReadDb, dev: string, ref: string | undefined): TrashRow[] {
  if (ref === undefined) {
    const latest = rows(db, dev, "t.reason = 'removed'")[0];
    if (!latest) throw new SdError('E_TRASH_EMPTY', 'the trash is empty');
    return rows(db, dev, "t.batch = ? AND t.reason = 'removed'", latest.batch);
  }
  const hit = rows(
    db,
    dev,
    "t.id = ? OR (length(?) >= 4 AND t.id LIKE ? || '%') OR l.path || '/' || t.orig = ?",
    ref,
    ref,
    ref,
    resolve('/', ref),
  );
  if (hit.length === 0)
    throw new SdError('E_NOT_IN_TRASH', `nothing in the trash matches "${ref}" (see \`sd trash list\`)`);
  const newest = hit.filter((r) => r.orig === hit[0]!.orig);
  if (new Set(hit.map((r) => r.orig)).size > 1)
    throw new SdError('E_AMBIGUOUS_TRASH', `"${ref}" matches ${hit.length} items; use an id`);
  return [newest[0]!];
}

export const restoreTrash = defineCommand({
  name: 'trash.restore',
  summary: 'put items from the trash back where they were',
  input: z.object({ ref: z.string().min(1).optional(), onConflict: OnConflict }),
  preview: async (ctx, { ref, onConflict }) => {
    const dev = ctx.core.device.id;
    const steps: Step[] = [];
    const changes: PlanChange[] = [];
    const conflicts: Conflict[] = [];
    const stamps: OpData['stamps'] = [];
    const taken = new Set<string>();
    for (const r of pick(ctx.lib.db, dev, ref)) {
      if (!lstat(r.path))
        throw new SdError('E_PATH_NOT_FOUND', `the trashed item ${r.path} is no longer on disk`, { path: r.path });
      let tgt = place(ctx.lib.db, dev, r.orig);
      const tSt = lstat(tgt.abs);
      const itemSt = lstat(r.path);
      stamps.push([r.path, stampOf(itemSt)], [tgt.abs, stampOf(tSt)]);
      if (tSt || taken.has(tgt.abs)) {
        if (onConflict === 'skip') {
          changes.push({ op: 'skip', target: tgt.abs, detail: 'already exists' });
          continue;
        }
        if (onConflict === 'rename')
          tgt = place(ctx.lib.db, dev, freeName(dirname(tgt.abs), tgt.abs.slice(tgt.abs.lastIndexOf('/') + 1), taken));
        else if (onConflict === 'overwrite' && tSt)
          steps.push(trashStep(ctx, tgt, await manifestOf(tgt.loc.path, tgt.abs, false), 'overwritten'));
        else {
          conflicts.push({ code: 'E_DEST_EXISTS', target: tgt.abs, message: `${tgt.abs} already exists` });
          continue;
        }
      }
      taken.add(tgt.abs);
      const m = await manifestOf(r.root, r.path);
      steps.push({
        k: 'move',
        from: r.path,
        to: tgt.abs,
        fromRoot: r.root,
        toRoot: tgt.loc.path,
        stamp: stampOf(itemSt),
        fromLoc: null,
        toLoc: tgt.loc.id,
        toKey: tgt.key,
        untrash: { id: r.id, loc: r.loc },
        manifest: m,
      });
      listChanges(changes, 'restore', tgt.abs, m, `from the trash (${r.id})`);
    }
    return {
      summary: `restore ${steps.filter((s) => s.untrash).length} item(s) from the trash`,
      changes,
      conflicts,
      data: { steps, stamps },
    };
  },
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});

export const emptyTrash = defineCommand({
  name: 'trash.empty',
  summary: 'permanently delete what is in the trash',
  input: z.object({ olderThanDays: z.number().nonnegative().optional() }),
  preview: ({ core, lib }, { olderThanDays }) => {
    const cut = olderThanDays === undefined ? Infinity : Date.now() - olderThanDays * 86_400_000;
    const all = rows(lib.db, core.device.id).filter((r) => r.deleted_at <= cut);
    const steps: Step[] = all.map((r) => ({
      k: 'delete',
      from: dirname(r.path),
      fromRoot: r.root,
      stamp: stampOf(lstat(dirname(r.path))),
      fromLoc: null,
      untrash: { id: r.id, loc: r.loc },
    }));
    const files = all.reduce((s, r) => s + r.files, 0);
    const bytes = all.reduce((s, r) => s + r.bytes, 0);
    return {
      summary: `permanently delete ${all.length} item(s) from the trash (${files} file(s), ${bytes} bytes)`,
      changes: all
        .slice(0, 1000)
        .map((r) => ({ op: 'delete', target: r.path, detail: `was ${r.orig}`, bytes: r.bytes })),
      confirm: all.length
        ? `Permanently delete ${files} file(s) (${bytes} bytes) from the trash? This cannot be undone.`
        : undefined,
      data: { steps, stamps: all.map((r) => [r.path, stampOf(lstat(r.path))] as OpData['stamps'][number]) },
    };
  },
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});
