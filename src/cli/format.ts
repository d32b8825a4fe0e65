// Human output: aligned tables, sizes and times for people; colours only on a TTY, never with
// NO_COLOR or --json.
export interface Style {
  color: boolean;
}

export function useColor(json: boolean): boolean {
  return !json && !!process.stdout.isTTY && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
}

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;
export type Paint = (s: string) => string;

export function painter(style: Style): Record<keyof typeof codes, Paint> {
  const make =
    (k: keyof typeof codes): Paint =>
    (s) =>
      style.color ? `\u001b[${codes[k][0]}m${s}\u001b[${codes[k][1]}m` : s;
  return {
    bold: make('bold'),
    dim: make('dim'),
    red: make('red'),
    green: make('green'),
    yellow: make('yellow'),
    cyan: make('cyan'),
  };
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const ANSI = /\u001b\[[0-9;]*m/g;
let widthOf: ((s: string) => number) | undefined;
let loading: Promise<void> | undefined;

/**
 * Loads the display-width measure (string-width, ~11 ms of a start): CliContext.call loads it
 * when an answer holds text beyond printable ASCII; a table of such text without an RPC call
 * loads it first.
 */
export function loadWidth(): Promise<void> {
  return (loading ??= import('string-width').then((m) => void (widthOf = m.default)));
}

/** Terminal columns: wide (CJK) characters count two, combining marks none, colour codes none. */
const visible = (s: string): number =>
  PRINTABLE_ASCII.test(s) ? s.length : widthOf ? widthOf(s) : [...s.replace(ANSI, '')].length;

/** Columns aligned to their widest cell; numbers right-aligned. */
export function table(headers: string[], rows: (string | number | null | undefined)[][], style: Style): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  // Each cell is measured once (a 10,000-row listing has 50,000 cells).
  const cellWidths = cells.map((r) => r.map(visible));
  const widths = headers.map((h, i) => cellWidths.reduce((m, r) => Math.max(m, r[i] ?? 0), visible(h)));
  const numeric = headers.map(
    (_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.,]+( ?[KMGTP]?i?B)?$|^-$/.test(r[i] ?? '')),
  );
  const pad = (s: string, i: number, w: number): string => {
    const fill = ' '.repeat(Math.max(0, widths[i]! - w));
    return numeric[i] ? fill + s : s + fill;
  };
  const p = painter(style);
  const head = headers
    .map((h, i) => p.bold(pad(h, i, visible(h))))
    .join('  ')
    .trimEnd();
  return [
    head,
    ...cells.map((r, n) =>
      r
        .map((c, i) => pad(c, i, cellWidths[n]![i]!))
        .join('  ')
        .trimEnd(),
    ),
  ].join('\n');
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Local time, to the second; "YYYY-MM-DD HH:MM:SS". */
export function time(ms: number | null | undefined): string {
  if (!ms) return '-';
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

export function ago(ms: number | null | undefined): string {
  if (!ms) return 'never';
  const d = Date.now() - ms;
  return d < 5000 ? 'just now' : `${duration(d)} ago`;
}

export function shortId(id: string, n = 8): string {
  return id.length > n ? id.slice(0, n) : id;
}
