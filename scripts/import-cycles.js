#!/usr/bin/env node
// Measures the import cycles of src/: builds the graph of relative imports (`import type` and
// re-exports included, read by the TypeScript compiler's pre-processor), finds its strongly
// connected components (Tarjan) and prints the largest ones with their files.
// Usage: node scripts/import-cycles.js [--all] [--through src/core.ts]
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = new URL('..', import.meta.url).pathname;
const src = join(root, 'src');
const args = process.argv.slice(2);
const showAll = args.includes('--all');
const through = args.includes('--through') ? args[args.indexOf('--through') + 1] : undefined;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** `./x.js` -> the .ts file it names, when it is one of ours. */
function target(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const cand of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')])
    if (existsSync(cand) && cand.startsWith(src)) return cand;
  return undefined;
}

const files = walk(src);
const edges = new Map();
for (const f of files) {
  const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
  const to = new Set();
  for (const imp of info.importedFiles) {
    const t = target(f, imp.fileName);
    if (t) to.add(t);
  }
  edges.set(f, [...to]);
}

// Tarjan's strongly connected components, iterative (deep graphs overflow the recursive one).
let index = 0;
const idx = new Map();
const low = new Map();
const onStack = new Set();
const stack = [];
const sccs = [];
for (const start of files) {
  if (idx.has(start)) continue;
  const work = [[start, 0]];
  idx.set(start, index);
  low.set(start, index++);
  stack.push(start);
  onStack.add(start);
  while (work.length) {
    const frame = work[work.length - 1];
    const [v, i] = frame;
    const next = edges.get(v);
    if (i < next.length) {
      frame[1] += 1;
      const w = next[i];
      if (!idx.has(w)) {
        idx.set(w, index);
        low.set(w, index++);
        stack.push(w);
        onStack.add(w);
        work.push([w, 0]);
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
      continue;
    }
    work.pop();
    if (work.length) {
      const parent = work[work.length - 1][0];
      low.set(parent, Math.min(low.get(parent), low.get(v)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) sccs.push(comp);
    }
  }
}
sccs.sort((a, b) => b.length - a.length);
const rel = (f) => relative(root, f);
const largest = sccs[0]?.length ?? 0;
console.log(
  `${files.length} files in src/, ${sccs.length} import cycle(s); largest strongly connected component: ${largest} files`,
);
for (const [n, comp] of sccs.entries()) {
  if (n > 0 && !showAll) {
    console.log(
      `(+${sccs.length - 1} smaller: ${sccs
        .slice(1)
        .map((c) => c.length)
        .join(', ')} files; --all lists them)`,
    );
    break;
  }
  console.log(`\ncycle ${n + 1}: ${comp.length} files`);
  for (const f of comp.map(rel).sort()) console.log(`  ${f}`);
}
if (through) {
  const abs = resolve(root, through);
  const comp = sccs.find((c) => c.includes(abs));
  console.log(`\n${through}: ${comp ? `in a cycle of ${comp.length} files` : 'in no cycle'}`);
}
