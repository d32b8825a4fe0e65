// Reversible string form of file names that may not be valid UTF-8.
//
// A name whose bytes are valid UTF-8 is used as is. Any other name is written as
//   U+FFFD  +  the name with '%' as '%25', each byte outside a valid UTF-8 sequence as '%XX'
// e.g. bytes 66 ff 6f -> "\uFFFDf%FFo". A valid name that itself starts with U+FFFD is escaped
// the same way so the mapping stays one-to-one. The string survives UTF-8 storage (SQLite,
// msgpack) unchanged, unlike lone-surrogate schemes, and decodeName() gives back the bytes.
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';

export const ESCAPE_MARK = '\uFFFD';

function utf8SeqLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

const hex2 = (b: number): string => b.toString(16).toUpperCase().padStart(2, '0');

/** The string form of a raw name (see the module comment). */
export function encodeName(raw: Uint8Array): string {
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (isUtf8(buf)) {
    const s = buf.toString('utf8');
    if (!s.startsWith(ESCAPE_MARK)) return s;
    return ESCAPE_MARK + s.replaceAll('%', '%25');
  }
  let out = ESCAPE_MARK;
  let i = 0;
  while (i < buf.length) {
    const n = utf8SeqLength(buf[i]!);
    if (n > 0 && i + n <= buf.length && isUtf8(buf.subarray(i, i + n))) {
      const ch = buf.toString('utf8', i, i + n);
      out += ch === '%' ? '%25' : ch;
      i += n;
    } else {
      out += '%' + hex2(buf[i]!);
      i += 1;
    }
  }
  return out;
}

/**
 * The string form of the name in buf[start, end), as encodeName gives it, without a copy for the
 * common name (valid UTF-8 that does not start with the mark): a kernel listing or event holds it.
 */
export function nameIn(buf: Buffer, start: number, end: number): string {
  const raw = buf.subarray(start, end);
  if (isUtf8(raw)) {
    const s = buf.toString('utf8', start, end);
    if (!s.startsWith(ESCAPE_MARK)) return s;
  }
  return encodeName(raw);
}

/** True when the name is in escaped form (its bytes differ from its UTF-8 encoding). */
export function isEscapedName(name: string): boolean {
  return name.startsWith(ESCAPE_MARK);
}

/** The raw bytes of a name produced by encodeName. */
export function decodeName(name: string): Buffer {
  if (!isEscapedName(name)) return Buffer.from(name, 'utf8');
  const body = name.slice(ESCAPE_MARK.length);
  const parts: Buffer[] = [];
  let plain = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    const h = c === '%' ? body.slice(i + 1, i + 3) : '';
    if (c === '%' && /^[0-9A-Fa-f]{2}$/.test(h)) {
      if (plain) {
        parts.push(Buffer.from(plain, 'utf8'));
        plain = '';
      }
      parts.push(Buffer.from([parseInt(h, 16)]));
      i += 2;
    } else {
      plain += c;
    }
  }
  if (plain) parts.push(Buffer.from(plain, 'utf8'));
  return Buffer.concat(parts);
}

/**
 * The path to hand to fs calls for a walk relPath under root: a string when every name is
 * plain, a Buffer (raw bytes) when any name is escaped.
 */
export function fsPathOf(root: string, relPath: string): string | Buffer {
  const base = root.endsWith('/') && root.length > 1 ? root.slice(0, -1) : root;
  if (relPath === '') return base;
  if (!relPath.includes(ESCAPE_MARK)) return `${base}/${relPath}`;
  const parts: Buffer[] = [Buffer.from(base, 'utf8')];
  for (const name of relPath.split('/')) parts.push(Buffer.from('/'), decodeName(name));
  return Buffer.concat(parts);
}

/** The fs form of an absolute path whose names are in string form (escaped names decoded). */
export function fsPathOfAbs(abs: string): string | Buffer {
  if (!abs.includes(ESCAPE_MARK)) return abs;
  const parts = abs.split('/');
  return Buffer.concat(parts.flatMap((n, i) => (i === 0 ? [decodeName(n)] : [Buffer.from('/'), decodeName(n)])));
}

/** The string form of a raw path (each name through encodeName). */
export function encodePath(raw: string | Buffer): string {
  if (typeof raw === 'string') return raw;
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= raw.length; i++) {
    if (i === raw.length || raw[i] === 0x2f) {
      out.push(encodeName(raw.subarray(start, i)));
      start = i + 1;
    }
  }
  return out.join('/');
}

/**
 * A command-line argument in string form. Node decodes argv as UTF-8 and puts U+FFFD for bytes
 * that are not; on Linux the raw bytes are read back from /proc/self/cmdline, so a name that is
 * not valid UTF-8 can be given as it is on disk (or in the escaped form `sd ls` prints).
 */
export function argInStringForm(arg: string, argv: readonly string[] = process.argv): string {
  if (!arg.includes(ESCAPE_MARK)) return arg;
  const i = argv.lastIndexOf(arg);
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return arg;
  }
  const parts: Buffer[] = [];
  for (let s = 0, j = 0; j <= raw.length; j++)
    if (j === raw.length || raw[j] === 0) {
      if (j > s || j < raw.length) parts.push(raw.subarray(s, j));
      s = j + 1;
    }
  const k = parts.length - (argv.length - i);
  if (i < 0 || k < 0 || parts[k]!.toString('utf8') !== arg) return arg;
  return isUtf8(parts[k]!) ? arg : encodePath(parts[k]!);
}
