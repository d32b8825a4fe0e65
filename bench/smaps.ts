// Where a process's resident memory lives, from /proc/PID/smaps: the node binary, glibc's main
// heap, anonymous mappings (V8's heap, thread arenas, WebAssembly memory, SQLite's caches) and the
// rest, in MiB. Linux only; an empty list elsewhere.
import { readFileSync } from 'node:fs';

export interface SmapsPart {
  name: string;
  mib: number;
  mappings: number;
}

export function smapsSummary(pid: number): SmapsPart[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return [];
  }
  const parts = new Map<string, SmapsPart>();
  let name = '';
  for (const line of text.split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const file = m[1]!.trim();
      name = file === '' ? '[anon]' : file.startsWith('/') ? file.slice(file.lastIndexOf('/') + 1) : file;
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (!r) continue;
    const p = parts.get(name) ?? { name, mib: 0, mappings: 0 };
    p.mib += Number(r[1]) / 1024;
    p.mappings++;
    parts.set(name, p);
  }
  return [...parts.values()].sort((a, b) => b.mib - a.mib);
}

/** One line: the four biggest parts and the rest, e.g. `[anon] 41.1, node 40.6, [heap] 9.8, ... rest 6.2 MiB`. */
export function smapsLine(pid: number): string {
  const parts = smapsSummary(pid);
  const top = parts.slice(0, 4);
  const rest = parts.slice(4).reduce((s, p) => s + p.mib, 0);
  return [...top.map((p) => `${p.name} ${p.mib.toFixed(1)}`), `rest ${rest.toFixed(1)} MiB`].join(', ');
}
