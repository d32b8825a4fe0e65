// sd trash list / restore / empty. Removed items wait in <location>/.vdfs-trash/<id>/<name>
// (a hidden folder the indexer skips); the trash table (operational) says where they came from.
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { Db } from '../../library/library.js';
import type { Conflict, PlanChange } from '../define.js';
import { defineCommand, defineQuery } from '../define.js';
import { ensureTables } from './intents.js';
import { freeName, lstat, place, stampOf } from './paths.js';
import { hasher, manifestOf, type Step } from './steps.js';
import { OnConflict, listChanges, trashStep } from './transfer.js';
import { commitOp, verifyOp, type OpData } from './verify.js';

interface TrashRow {
  id: string;
  batch: string;
  loc: string;
  orig: string;
  path: string;
  reason: string;
  files: number;
  bytes: number;
  deleted_at: number;
}

function rows(db: Db, where = '1', ...args: unknown[]): TrashRow[] {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'trash'").get()) return [];
  return db.prepare(`SELECT * FROM trash WHERE ${where} ORDER BY deleted_at DESC, id`).all(...args) as TrashRow[];
}

export const listTrash = defineQuery({
  name: 'trash.list',
  summary: 'items in the trash, newest first',
  input: z.object({}),
  run: ({ db }) =>
    rows(db).map((r) => ({
      id: r.id,
      originalPath: r.orig,
      trashPath: r.path,
      reason: r.reason,
      files: r.files,
      bytes: r.bytes,
      deletedAt: r.deleted_at,
    })),
});

function pick(db: Db, ref: string | undefined): TrashRow[] {
  if (ref === undefined) {
    const latest = rows(db, "reason = 'removed'")[0];
    if (!latest) throw new SdError('E_TRASH_EMPTY', 'the trash is empty');
    return rows(db, "batch = ? AND reason = 'removed'", latest.batch);
  }
  const hit = rows(db, "id = ? OR (length(?) >= 4 AND id LIKE ? || '%') OR orig = ?", ref, ref, ref, resolve('/', ref));
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
    ensureTables(ctx.lib.db);
    const h = await hasher();
    const dev = ctx.core.device.id;
    const steps: Step[] = [];
    const changes: PlanChange[] = [];
    const conflicts: Conflict[] = [];
    const stamps: OpData['stamps'] = [];
    const taken = new Set<string>();
    for (const r of pick(ctx.lib.db, ref)) {
      if (!lstat(r.path))
        throw new SdError('E_PATH_NOT_FOUND', `the trashed item ${r.path} is no longer on disk`, { path: r.path });
      let tgt = place(ctx.lib.db, dev, r.orig);
      const tSt = lstat(tgt.abs);
      stamps.push([r.path, stampOf(lstat(r.path))], [tgt.abs, stampOf(tSt)]);
      if (tSt || taken.has(tgt.abs)) {
        if (onConflict === 'skip') {
          changes.push({ op: 'skip', target: tgt.abs, detail: 'already exists' });
          continue;
        }
        if (onConflict === 'rename')
          tgt = place(ctx.lib.db, dev, freeName(dirname(tgt.abs), tgt.abs.slice(tgt.abs.lastIndexOf('/') + 1), taken));
        else if (onConflict === 'overwrite' && tSt)
          steps.push(trashStep(ctx, tgt, manifestOf(h, tgt.abs), 'overwritten'));
        else {
          conflicts.push({ code: 'E_DEST_EXISTS', target: tgt.abs, message: `${tgt.abs} already exists` });
          continue;
        }
      }
      taken.add(tgt.abs);
      const m = manifestOf(h, r.path);
      steps.push({
        k: 'move',
        from: r.path,
        to: tgt.abs,
        fromLoc: null,
        toLoc: tgt.loc.id,
        toKey: tgt.key,
        untrash: r.id,
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
  preview: ({ lib }, { olderThanDays }) => {
    const cut = olderThanDays === undefined ? Infinity : Date.now() - olderThanDays * 86_400_000;
    const all = rows(lib.db).filter((r) => r.deleted_at <= cut);
    const steps: Step[] = all.map((r) => ({ k: 'delete', from: dirname(r.path), fromLoc: null, untrash: r.id }));
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
