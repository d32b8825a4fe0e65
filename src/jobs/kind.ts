// Kind detection: definitive magic bytes first, then the extension.
export type Kind = 'image' | 'video' | 'audio' | 'document' | 'archive' | 'code' | 'text' | 'other';

export const KINDS: readonly Kind[] = ['image', 'video', 'audio', 'document', 'archive', 'code', 'text', 'other'];

const EXT: Record<Kind, string[]> = {
  image: [
    'png',
    'jpg',
    'jpeg',
    'gif',
    'webp',
    'bmp',
    'tif',
    'tiff',
    'heic',
    'heif',
    'avif',
    'svg',
    'ico',
    'raw',
    'cr2',
    'nef',
    'arw',
    'dng',
    'psd',
  ],
  video: ['mp4', 'm4v', 'mov', 'ogv', 'mkv', 'webm', 'avi', 'wmv', 'flv', 'mpg', 'mpeg', '3gp', 'ts', 'mts', 'm2ts'],
  audio: ['mp3', 'wav', 'flac', 'ogg', 'oga', 'opus', 'm4a', 'aac', 'wma', 'aiff', 'aif', 'mid', 'midi'],
  document: [
    'pdf',
    'doc',
    'docx',
    'odt',
    'rtf',
    'xls',
    'xlsx',
    'ods',
    'ppt',
    'pptx',
    'odp',
    'epub',
    'pages',
    'numbers',
    'key',
  ],
  archive: ['zip', 'tar', 'gz', 'tgz', 'bz2', 'xz', 'zst', '7z', 'rar', 'iso', 'dmg', 'jar', 'deb', 'rpm'],
  code: [
    'js',
    'mjs',
    'cjs',
    'jsx',
    'tsx',
    'py',
    'rs',
    'go',
    'c',
    'h',
    'cc',
    'cpp',
    'hpp',
    'java',
    'kt',
    'swift',
    'rb',
    'php',
    'cs',
    'sh',
    'bash',
    'zsh',
    'sql',
    'html',
    'css',
    'scss',
    'vue',
    'svelte',
    'lua',
    'pl',
    'r',
    'scala',
    'hs',
    'ex',
    'exs',
    'zig',
  ],
  text: [
    'txt',
    'md',
    'markdown',
    'rst',
    'csv',
    'tsv',
    'log',
    'json',
    'yaml',
    'yml',
    'toml',
    'ini',
    'cfg',
    'conf',
    'xml',
    'tex',
  ],
  other: [],
};

const BY_EXT = new Map<string, Kind>();
for (const kind of KINDS) for (const ext of EXT[kind]) BY_EXT.set(ext, kind);
// '.ts' is far more often TypeScript than MPEG transport streams in a file tree; magic bytes
// (0x47 sync byte) are not definitive, so the extension decides for code.
BY_EXT.set('ts', 'code');

const FILE_NAMES: Record<string, Kind> = {
  makefile: 'code',
  dockerfile: 'code',
  readme: 'text',
  license: 'text',
  changelog: 'text',
};

function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (head[at + i] !== bytes[i]) return false;
  return true;
}

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

// Formats whose signature alone decides the kind (two-byte ones like BM/MZ are too weak: text can start so).
const MAGIC: Array<[Kind, number[], number]> = [
  ['image', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0], // PNG
  ['image', [0xff, 0xd8, 0xff], 0], // JPEG
  ['image', ascii('GIF8'), 0],
  ['document', ascii('%PDF-'), 0],
  ['archive', [0x1f, 0x8b], 0], // gzip
  ['archive', ascii('7z\xbc\xaf\x27\x1c'), 0],
  ['archive', ascii('Rar!\x1a\x07'), 0],
  ['archive', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 0], // xz
  ['archive', [0x28, 0xb5, 0x2f, 0xfd], 0], // zstd
  ['archive', ascii('ustar'), 257],
  ['audio', ascii('ID3'), 0],
  ['audio', ascii('fLaC'), 0],
  ['video', [0x1a, 0x45, 0xdf, 0xa3], 0], // Matroska / WebM
  ['other', [0x7f, 0x45, 0x4c, 0x46], 0], // ELF executable
];

const ZIP_LOCAL = [0x50, 0x4b, 0x03, 0x04];
const ZIP_EMPTY = [0x50, 0x4b, 0x05, 0x06];
const RIFF = ascii('RIFF');
const WAVE = ascii('WAVE');
const AVI = ascii('AVI ');
const WEBP = ascii('WEBP');
const OGG = ascii('OggS');
const FTYP = ascii('ftyp');

// Runs once per identified file, on the hashing threads: no allocation, and a signature whose
// first byte differs is passed over with one comparison.
function kindFromMagic(head: Uint8Array, ext: string): Kind | undefined {
  const first = head[0];
  for (const [kind, sig, at] of MAGIC) if ((at !== 0 || sig[0] === first) && startsWith(head, sig, at)) return kind;
  // ZIP: office documents and epub are zips too, so the extension refines it.
  if (startsWith(head, ZIP_LOCAL) || startsWith(head, ZIP_EMPTY)) {
    return BY_EXT.get(ext) === 'document' ? 'document' : 'archive';
  }
  if (startsWith(head, RIFF)) {
    if (startsWith(head, WAVE, 8)) return 'audio';
    if (startsWith(head, AVI, 8)) return 'video';
    if (startsWith(head, WEBP, 8)) return 'image';
  }
  if (startsWith(head, OGG)) return BY_EXT.get(ext) === 'video' ? 'video' : 'audio';
  if (startsWith(head, FTYP, 4)) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    if (brand === 'M4A ' || brand === 'M4B ') return 'audio';
    if (brand === 'heic' || brand === 'heix' || brand === 'mif1' || brand === 'avif') return 'image';
    return 'video';
  }
  // MPEG audio frame sync without an ID3 tag: 11 set bits, layer != 0.
  if (head.length >= 2 && head[0] === 0xff && (head[1]! & 0xe0) === 0xe0 && (head[1]! & 0x06) !== 0) {
    return 'audio';
  }
  return undefined;
}

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  // A leading dot is a hidden file, not an extension.
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** True when the head looks like text: no NUL and mostly printable (UTF-8 bytes allowed). */
function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  let odd = 0;
  for (const b of head) {
    if (b === 0) return false;
    if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) odd++;
  }
  return odd * 10 < head.length;
}

/**
 * Kind of a file from its name and, when available, its first bytes.
 * Definitive signatures win over a misleading extension (a PNG named .txt is an image).
 */
export function kindOf(name: string, head?: Uint8Array): Kind {
  const ext = extensionOf(name);
  if (head && head.length > 0) {
    const magic = kindFromMagic(head, ext);
    if (magic) return magic;
  }
  const byExt = BY_EXT.get(ext) ?? FILE_NAMES[name.toLowerCase()];
  if (byExt) return byExt;
  if (head && looksLikeText(head)) return 'text';
  return 'other';
}

/** Named pipes, sockets and devices: recorded with a kind of their own and never opened for reading. */
export type SpecialKind = 'fifo' | 'socket' | 'block-device' | 'char-device';
export const SPECIAL_KINDS: readonly SpecialKind[] = ['fifo', 'socket', 'block-device', 'char-device'];

export function specialKindOf(st: {
  isFIFO(): boolean;
  isSocket(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
}): SpecialKind | undefined {
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isCharacterDevice()) return 'char-device';
  return undefined;
}
