// sd rm: into the location's trash, or --permanent.
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { PlanChange } from '../define.js';
import { defineCommand } from '../define.js';
import { TRASH_DIR, isInside, lstat, place, stampOf, type Place } from './paths.js';
import { manifestOf, type Step } from './steps.js';
import { listChanges, trashStep } from './transfer.js';
import { commitOp, verifyOp, type OpData } from './verify.js';

export const removeEntries = defineCommand({
  name: 'entry.rm',
  summary: "remove files and folders: into the location's trash, or permanently",
  input: z.object({ paths: z.array(z.string()).min(1).max(100_000), permanent: z.boolean().default(false) }),
  preview: async (ctx, { paths, permanent }) => {
    const dev = ctx.core.device.id;
    const placed: Place[] = [];
    for (const p of paths) {
      const pl = place(ctx.lib.db, dev, p);
      if (!lstat(pl.abs)) throw new SdError('E_PATH_NOT_FOUND', `${pl.abs} does not exist`, { path: pl.abs });
      placed.push(pl);
    }
    // A path inside another one given is removed with it.
    placed.sort((a, b) => a.abs.length - b.abs.length);
    const kept = placed.filter((p, i) => !placed.slice(0, i).some((q) => isInside(p.abs, q.abs)));
    const steps: Step[] = [];
    const changes: PlanChange[] = [];
    const stamps: OpData['stamps'] = [];
    let files = 0;
    let bytes = 0;
    for (const pl of kept) {
      // Removing needs no content ids: the listing says what goes (files, bytes).
      const m = await manifestOf(pl.loc.path, pl.abs, false);
      const stamp = stampOf(lstat(pl.abs));
      stamps.push([pl.abs, stamp]);
      steps.push(
        permanent
          ? {
              k: 'delete',
              from: pl.abs,
              fromRoot: pl.loc.path,
              stamp,
              fromLoc: pl.loc.id,
              fromKey: pl.key,
              manifest: m,
            }
          : trashStep(ctx, pl, m, 'removed'),
      );
      listChanges(
        changes,
        permanent ? 'delete' : 'trash',
        pl.abs,
        m,
        permanent ? 'permanently' : `into ${pl.loc.path}/${TRASH_DIR} (restorable)`,
      );
      files += m.files;
      bytes += m.bytes;
    }
    return {
      summary: `${permanent ? 'permanently delete' : 'move to the trash'} ${kept.length} item(s) (${files} file(s), ${bytes} bytes)`,
      changes,
      confirm: permanent ? `Permanently delete ${files} file(s) (${bytes} bytes)? This cannot be undone.` : undefined,
      data: { steps, stamps },
    };
  },
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});
