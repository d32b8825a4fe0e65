// A rescan's moves: a path that vanished and one that appeared with the same inode (and size, for
// files) is one entry moved, which keeps its content id and tags instead of a delete and a create.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { DIR, FILE, SEP, type EntryTuple } from '../projections/entries.js';

/** [key, inode, size, t] of an entry that disappeared from its path. */
export type Gone = [string, number, number, number];

export function matchMoves(
  db: Database,
  loc: string,
  appeared: EntryTuple[],
  vanished: Gone[],
): { moves: [string, string][]; creates: EntryTuple[]; gone: string[] } {
  const byInode = new Map<string, Gone>();
  for (const g of vanished) byInode.set(`${g[1]}:${g[3]}:${g[3] === FILE ? g[2] : 0}`, g);
  const moves: [string, string][] = [];
  const creates: EntryTuple[] = [];
  const movedFrom = new Set<string>();
  const dirMoves: [string, string][] = [];
  for (const n of appeared) {
    const g = byInode.get(`${n[4]}:${n[1]}:${n[1] === FILE ? n[2] : 0}`);
    if (g && !movedFrom.has(g[0])) {
      movedFrom.add(g[0]);
      moves.push([g[0], n[0]]);
      if (n[1] === DIR) dirMoves.push([g[0], n[0]]);
    }
    creates.push(n); // an unchanged moved entry is a no-op upsert that keeps its content id
  }
  const gone = vanished.map((g) => g[0]).filter((k) => !movedFrom.has(k));
  // A moved folder's indexed children follow it; those not walked under its new path (deleted or
  // moved away meanwhile, or a reused inode) would linger there as phantoms, so they go too.
  if (dirMoves.length > 0) {
    const walkedNew = new Set(appeared.map((n) => n[0]));
    const kids = db.prepare('SELECT key FROM entries WHERE loc = ? AND key > ? AND key < ? ORDER BY key');
    for (const [from, to] of dirMoves) {
      let top: string | undefined;
      for (const { key } of kids.iterate(loc, from + SEP, from + '\u0002') as IterableIterator<{ key: string }>) {
        const nk = to + key.slice(from.length);
        if (walkedNew.has(nk) || (top !== undefined && nk.startsWith(top + SEP))) continue;
        top = nk;
        gone.push(nk);
      }
    }
  }
  return { moves, creates, gone };
}
