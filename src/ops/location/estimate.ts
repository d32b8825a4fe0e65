// A quick, bounded estimate of a folder's size for the preview of `location add`: the folders'
// listings only, no lstat per entry, and at most 300 ms. The estimate ran before every add, so a
// full walk with lstat here (it was, for up to 1.5 s) delayed the real index by as much.
import { countEntries, type WalkRules } from '../../jobs/walk.js';

export function estimateWork(
  path: string,
  rules: WalkRules,
  exclude: string[] = [],
  budgetMs = 300,
  maxEntries = 200_000,
): { files: number; dirs: number; partial: boolean } {
  return countEntries(path, rules, exclude, budgetMs, maxEntries);
}
