// A quick, bounded estimate of a folder's size for the preview of `location add`.
import { walkSync, type WalkRules } from '../../jobs/walk.js';

export function estimateWork(
  path: string,
  rules: WalkRules,
  exclude: string[] = [],
  budgetMs = 1500,
  maxEntries = 200_000,
): { files: number; dirs: number; partial: boolean } {
  const t0 = Date.now();
  let files = 0;
  let dirs = 0;
  for (const b of walkSync(path, rules, { batchSize: 2000, exclude })) {
    for (const e of b.entries) {
      if (e.isDir) dirs++;
      else files++;
    }
    if (Date.now() - t0 > budgetMs || files + dirs >= maxEntries) return { files, dirs, partial: true };
  }
  return { files, dirs, partial: false };
}
