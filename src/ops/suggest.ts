// "did you mean": the known names closest to what was typed (edit distance, case-insensitive).

/** Optimal string alignment distance (Levenshtein plus adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/** Up to three names within a third of the typed length (at least 1, at most 3 edits), closest first. */
export function closest(typed: string, names: Iterable<string>): string[] {
  const t = typed.toLowerCase();
  const max = Math.min(3, Math.max(1, Math.floor(t.length / 3)));
  return [...new Set(names)]
    .map((n) => ({ n, d: n.toLowerCase().startsWith(t) ? 0.5 : editDistance(t, n.toLowerCase()) }))
    .filter((x) => x.d <= max)
    .sort((a, b) => a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, 3)
    .map((x) => x.n);
}

/** ` Did you mean "a" or "b"?` or nothing. */
export function didYouMean(typed: string, names: Iterable<string>): string {
  const c = closest(typed, names);
  return c.length ? ` Did you mean ${c.map((n) => `"${n}"`).join(' or ')}?` : '';
}
