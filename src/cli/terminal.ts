// Text that came from disk or from peers (names, notes, summaries, error messages quoting a
// name) reaches a terminal only with its control characters escaped, so a device name cannot
// erase lines, move the cursor, set the window title or write the clipboard (OSC 52).
// `--json` output is never escaped: JSON is exact.

/**
 * C0 (tab and newline included: a name must stay on its line), DEL, C1 (0x9b is CSI, 0x9d OSC
 * on 8-bit terminals), the Unicode line and paragraph separators, and the bidirectional
 * embeddings, overrides and isolates that reorder what a line appears to say.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  return NAMED[c] ?? (n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`);
}

/** The one function: every control character in `s` becomes a visible escape (`\x1b`, `\n`, `\u202e`). */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, escapeChar);
}

/** A copy of a value from the daemon with every string in it escaped, for human output only. */
export function displaySafe<T>(value: T): T {
  if (typeof value === 'string') return escapeControls(value) as T;
  if (Array.isArray(value)) return value.map((v) => displaySafe(v)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[escapeControls(k)] = displaySafe(v);
    return out as T;
  }
  return value;
}

/**
 * The last pass over every human line the CLI writes: what the boundary did not escape (text
 * the CLI composed from its own arguments) is escaped here. Line breaks and tabs of our own
 * layout stay, and so do the exact colour codes our painter emits.
 */
const OUTPUT_UNSAFE =
  /\u001b\[(?:1|2|22|31|32|33|36|39)m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string): string {
  return text.replace(OUTPUT_UNSAFE, (m) => (m.length > 1 ? m : escapeChar(m)));
}

/** True when every string in the value is printable ASCII (no width measuring needed). */
export function asciiOnly(value: unknown): boolean {
  if (typeof value === 'string') return /^[\x20-\x7e]*$/.test(value);
  if (Array.isArray(value)) return value.every(asciiOnly);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.values(value).every(asciiOnly);
  return true;
}
