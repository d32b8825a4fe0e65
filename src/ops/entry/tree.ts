// Whole trees through held folders (confine.ts): listed and compared without following a
// symlink anywhere and without opening a named pipe, socket or device (tree-write.ts copies and
// removes them). A name that is not UTF-8 is read as its raw bytes.
import { readdirSync, type Dirent, type Stats } from 'node:fs';
import { SdError } from '../../errors.js';
import { kindOf, specialKindOf } from '../../jobs/kind.js';
import { encodeName } from '../../jobs/names.js';
import { Dir, fsError, shownName, type Name } from './confine.js';
import { hashFiles, warmHashing } from './hashing.js';
import { codeOf } from '../../error-codes.js';

/** [relPath ('' = the root), t (0 file, 1 folder, 2 symlink, 3 special), size, mtimeMs, contentId | null, kind] */
export type Item = [string, number, number, number, string | null, string];

const SPECIAL = 3;

export interface Listed {
  /** The name in string form (escaped when it is not UTF-8). */
  name: string;
  dirent: Dirent<string> | Dirent<Buffer>;
}

/**
 * The entries of a held folder sorted by name (a stable plan order). Names are read as strings;
 * only a folder holding a name that is not UTF-8 is read again as bytes.
 */
export function list(d: Dir): Listed[] {
  try {
    let out: Listed[] = readdirSync(d.base, { withFileTypes: true }).map((e) => ({ name: e.name, dirent: e }));
    if (out.some((e) => e.name.includes('\uFFFD')))
      out = readdirSync(d.base, { withFileTypes: true, encoding: 'buffer' }).map((e) => ({
        name: encodeName(e.name),
        dirent: e,
      }));
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    throw fsError(e, d.shown);
  }
}

const typeOf = (st: Stats): number => (st.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : st.isFile() ? 0 : SPECIAL);

function itemOf(rel: string, name: Name, st: Stats): Item {
  const t = typeOf(st);
  const kind = t === 1 ? 'folder' : t === 2 ? 'symlink' : t === SPECIAL ? specialKindOf(st)! : kindOf(shownName(name));
  return [rel, t, t === 0 ? st.size : 0, Math.floor(st.mtimeMs), null, kind];
}

/**
 * Every entry of a tree (the named entry and, for a folder, everything below it), with content
 * ids when `hash` (computed on the hashing threads, through the held folders). A file that
 * cannot be read is an error naming it.
 */
/** A content id the index already holds for a file of this size and mtime (relPath '' = the root). */
export type KnownIds = (rel: string, size: number, mtimeMs: number) => string | undefined;

export async function scanTree(parent: Dir, name: Name, hash: boolean, known?: KnownIds): Promise<Item[]> {
  const st = parent.lstat(name);
  if (!st)
    throw new SdError('E_PATH_NOT_FOUND', `${parent.show(name)} does not exist (any more)`, {
      path: parent.show(name),
    });
  const items: Item[] = [itemOf('', name, st)];
  if (hash && !known) warmHashing();
  // Files wait in batches for the hashing threads while the walk goes on; a held folder stays
  // open while a waiting path goes through it (refs) or the walk is inside it (onStack).
  type Pending = { idx: number; path: string | Buffer; shown: string; dir?: Dir };
  let pending: Pending[] = [];
  const refs = new Map<Dir, number>();
  const onStack = new Set<Dir>();
  const release = (d: Dir): void => {
    if (!onStack.has(d) && !refs.get(d)) d.close();
  };
  const hashBatch = async (batch: Pending[]): Promise<void> => {
    try {
      const res = await hashFiles(batch.map((p) => p.path));
      res.forEach((r, i) => {
        const p = batch[i]!;
        if ('error' in r)
          throw r.error.code.startsWith('E_')
            ? new SdError(codeOf(r.error.code, 'E_FS'), `${p.shown}: ${r.error.message}`, { path: p.shown })
            : fsError(Object.assign(new Error(r.error.message), { code: r.error.code }), p.shown);
        const it = items[p.idx]!;
        it[2] = r.size;
        it[4] = r.contentId;
        it[5] = r.kind === 'other' ? it[5] : r.kind;
      });
    } finally {
      for (const p of batch)
        if (p.dir) {
          const n = refs.get(p.dir)! - 1;
          if (n) refs.set(p.dir, n);
          else {
            refs.delete(p.dir);
            release(p.dir);
          }
        }
    }
  };
  let inflight: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    await inflight; // one batch at the threads while the next one is collected
    inflight = hashBatch(batch);
    inflight.catch(() => undefined);
  };
  const cidOf = (it: Item): string | undefined => (known ? known(it[0], it[2], it[3]) : undefined);
  if (hash && items[0]![1] === 0) {
    const k = cidOf(items[0]!);
    if (k) items[0]![4] = k;
    else pending.push({ idx: 0, path: parent.at(name), shown: parent.show(name) });
  }
  const visit = async (d: Dir, rel: string): Promise<void> => {
    onStack.add(d);
    for (const e of list(d)) {
      const s = d.lstat(e.name);
      if (!s) continue; // vanished while listed
      const r = `${rel}${rel ? '/' : ''}${e.name}`;
      const it = itemOf(r, e.name, s);
      items.push(it);
      const k = it[1] === 0 && hash ? cidOf(it) : undefined;
      if (k) it[4] = k;
      else if (it[1] === 0 && hash) {
        pending.push({ idx: items.length - 1, path: d.at(e.name), shown: d.show(e.name), dir: d });
        refs.set(d, (refs.get(d) ?? 0) + 1);
      } else if (it[1] === 1) {
        const sub = d.open(e.name);
        try {
          await visit(sub, r);
        } catch (err) {
          sub.close();
          throw err;
        }
      }
      if (pending.length >= 1024 || refs.size >= 512) await flush();
    }
    onStack.delete(d);
    release(d);
  };
  try {
    if (items[0]![1] === 1) await visit(parent.open(name), '');
    if (pending.length) await flush();
    await inflight;
  } finally {
    await inflight?.catch(() => undefined);
    for (const d of refs.keys()) d.close();
  }
  return items;
}

/** Files and bytes of a manifest's items. */
export function totals(items: Item[]): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const i of items)
    if (i[1] === 0) {
      files++;
      bytes += i[2];
    }
  return { files, bytes };
}

/**
 * Differences between expected items and the tree now, as sentences naming the paths. With
 * `renamed` (the tree was moved by rename(2), which rewrites no content), a file whose size and
 * mtime are unchanged keeps its expected content id instead of being hashed again.
 */
export async function compareTree(parent: Dir, name: Name, want: Item[], renamed = false): Promise<string[]> {
  const root = parent.show(name);
  let have: Item[];
  const expected = new Map(want.map((i) => [i[0], i]));
  const known: KnownIds | undefined = renamed
    ? (rel, size, mtimeMs) => {
        const w = expected.get(rel);
        return w && w[1] === 0 && w[2] === size && w[3] === Math.floor(mtimeMs) ? (w[4] ?? undefined) : undefined;
      }
    : undefined;
  try {
    have = await scanTree(
      parent,
      name,
      want.some((i) => i[4] !== null),
      known,
    );
  } catch (e) {
    return [e instanceof Error ? e.message : String(e)];
  }
  const byRel = new Map(have.map((i) => [i[0], i]));
  const out: string[] = [];
  for (const [rel, t, size, , cid] of want) {
    if (t === SPECIAL) continue; // never copied, never read
    const p = rel === '' ? root : `${root}/${rel}`;
    const h = byRel.get(rel);
    if (!h) out.push(`${p} is missing`);
    else if (h[1] !== t) out.push(`${p} is no longer a ${['file', 'folder', 'symlink'][t]}`);
    else if (t === 0 && h[2] !== size) out.push(`${p} has ${h[2]} bytes, expected ${size}`);
    else if (t === 0 && cid && h[4] !== cid) out.push(`${p} has different content (content id changed)`);
  }
  return out;
}
