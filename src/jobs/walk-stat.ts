// The lstat step of a walk: attributes of the planned names, on this thread or a stat worker's
// (statx through koffi where it loads, Node's lstat otherwise), in a column form that crosses
// threads cheaply, and their assembly into the walker's batches.
import { constants as fsConstants, lstatSync } from 'node:fs';
import type { LstatColumns } from './hash-pool.js';
import type { SpecialKind } from './kind.js';
import { fastLstat, type RawStat } from './statx.js';
import type { PlannedBatch, WalkError } from './walk-plan.js';
import type { WalkBatch, WalkEntry } from './walk.js';

const SPECIAL_OF: Record<number, SpecialKind> = { 1: 'fifo', 2: 'socket', 4: 'block-device', 8: 'char-device' };
const { S_IFMT, S_IFLNK, S_IFDIR, S_IFREG, S_IFIFO, S_IFSOCK, S_IFBLK, S_IFCHR } = fsConstants;
const SPECIAL_BITS: Record<number, number> = { [S_IFIFO]: 16, [S_IFSOCK]: 32, [S_IFBLK]: 64, [S_IFCHR]: 128 };

// A planned batch (its rels in walk order) plus its lstat results, as the walker's batch.
export function assemble(
  rels: readonly string[],
  errors: WalkError[],
  st: LstatColumns,
  cursorBefore: string | undefined,
): WalkBatch {
  const entries: WalkEntry[] = [];
  const failed = new Map<number, [string, string]>();
  for (const [i, code, message] of st.errors) failed.set(i, [code, message]);
  for (let i = 0; i < rels.length; i++) {
    const rel = rels[i]!;
    const flags = st.flags[i]!;
    if (flags === 0) {
      const [code, message] = failed.get(i) ?? ['E_INTERNAL', 'lstat failed'];
      errors.push({ path: rel, code, message });
      continue;
    }
    if (flags === 1) {
      errors.push({ path: rel, code: 'ENOENT', message: `vanished before it could be read: ${rel}` });
      continue;
    }
    entries.push({
      relPath: rel,
      name: rel.slice(rel.lastIndexOf('/') + 1),
      isDir: (flags & 4) !== 0,
      isSymlink: (flags & 8) !== 0,
      size: st.size[i]!,
      mtimeMs: st.mtimeMs[i]!,
      inode: st.ino[i]!,
      dev: st.dev[i]!,
      special: flags >= 16 ? SPECIAL_OF[flags >> 4] : undefined,
    });
  }
  const cursor = rels.length > 0 ? rels[rels.length - 1]! : cursorBefore;
  return { entries, errors, cursor };
}

export const assemblePlanned = (b: PlannedBatch, st: LstatColumns, cursorBefore: string | undefined): WalkBatch =>
  assemble(
    b.items.map((i) => i.rel),
    b.errors,
    st,
    cursorBefore,
  );

/** lstat of a batch on this thread, in the pool's column form (the stat workers run this too). */
export function lstatColumns(paths: readonly (string | Buffer)[]): LstatColumns {
  const n = paths.length;
  const out: LstatColumns = {
    flags: new Uint8Array(n),
    size: new Float64Array(n),
    mtimeMs: new Float64Array(n),
    ino: new BigUint64Array(n),
    dev: new BigUint64Array(n),
    errors: [],
  };
  const fast = fastLstat();
  const st: RawStat = { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n };
  for (let i = 0; i < n; i++) {
    try {
      if (!(fast ? fast(paths[i]!, st) : nodeLstat(paths[i]!, st))) {
        out.flags[i] = 1;
        continue;
      }
      const fmt = st.mode & S_IFMT;
      const link = fmt === S_IFLNK;
      const dir = fmt === S_IFDIR;
      const special = fmt === S_IFREG || link || dir ? 0 : (SPECIAL_BITS[fmt] ?? 0);
      out.flags[i] = 2 | (dir ? 4 : 0) | (link ? 8 : 0) | special;
      out.size[i] = dir ? 0 : st.size;
      out.mtimeMs[i] = Number(st.mtimeNs) / 1e6;
      out.ino[i] = st.ino;
      out.dev[i] = st.dev;
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      out.errors.push([i, typeof code === 'string' ? code : 'E_INTERNAL', e instanceof Error ? e.message : String(e)]);
    }
  }
  return out;
}

/** Node's lstat into `out` (false when the path does not exist): where statx cannot be called. */
function nodeLstat(path: string | Buffer, out: RawStat): boolean {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return false;
  out.mode = Number(st.mode);
  out.size = Number(st.size);
  out.mtimeNs = st.mtimeNs;
  out.ino = st.ino;
  out.dev = st.dev;
  return true;
}
