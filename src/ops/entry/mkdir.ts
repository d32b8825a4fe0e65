// sd mkdir: one folder inside a location, through the same intents and verify as every file operation.
import { z } from 'zod';
import type { Conflict, PlanBody } from '../define.js';
import { defineCommand } from '../define.js';
import { lstat, place, stampOf } from './paths.js';
import type { Step } from './steps.js';
import { commitOp, verifyOp, type OpData } from './verify.js';

export const makeDir = defineCommand({
  name: 'entry.mkdir',
  summary: 'create a folder',
  input: z.object({ path: z.string().min(1), onConflict: z.enum(['skip']).optional() }),
  preview: (ctx, { path, onConflict }): PlanBody<OpData> => {
    const pl = place(ctx.lib.db, ctx.core.device.id, path);
    const st = lstat(pl.abs);
    const conflicts: Conflict[] = [];
    const steps: Step[] = [];
    if (st && onConflict !== 'skip')
      conflicts.push({ code: 'E_DEST_EXISTS', target: pl.abs, message: `${pl.abs} already exists` });
    if (!st) steps.push({ k: 'mkdir', to: pl.abs, toRoot: pl.loc.path, toLoc: pl.loc.id, toKey: pl.key });
    return {
      summary: st ? `${pl.abs} already exists` : `create folder ${pl.abs}`,
      changes: st
        ? [{ op: 'skip', target: pl.abs, detail: 'already exists' }]
        : [{ op: 'create', target: pl.abs, detail: 'folder' }],
      conflicts,
      data: { steps, stamps: [[pl.abs, stampOf(st)]] },
    };
  },
  commit: (ctx, plan) => commitOp(ctx, plan),
  verify: (ctx, plan, r) => verifyOp(ctx, plan, r),
});
