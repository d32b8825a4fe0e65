import { readFileSync } from 'node:fs';
function smaps() {
  const out = new Map(); let cur = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { cur = m[1] || '[anon]'; continue; }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) out.set(cur, (out.get(cur) ?? 0) + Number(r[1]));
  }
  return out;
}
const a = smaps();
const { Core } = await import('./dist/src/core.js');
const b = smaps();
const { mkdtempSync } = await import('node:fs');
const c = await Core.open(mkdtempSync('/tmp/rsscore-'), { services: false });
await new Promise(r => setTimeout(r, 500));
const d = smaps();
const keys = new Set([...a.keys(), ...b.keys(), ...d.keys()]);
const rows = [...keys].map(k => [k, (a.get(k) ?? 0), (b.get(k) ?? 0), (d.get(k) ?? 0)]).filter(r => r[3] > 1500).sort((x, y) => y[3] - x[3]);
for (const r of rows) console.log(String(r[1]).padStart(7), String(r[2]).padStart(7), String(r[3]).padStart(7), r[0].slice(-70));
