// Leaving the content-id index out while many rows are written, and building it once after: a
// first index or a big identify (jobs/index-phases.ts) and a feed streaming a large index
// (sync/bulk-index.ts). Updated per row, its random inserts outgrow the page cache; built in one
// pass it costs a fraction. Those who hold it out are counted per library, so it comes back when
// the last one is done, never under one still writing. Meanwhile a lookup by content id scans the
// table: slower, never wrong. A crash while it is out is mended at the next open (the schema
// creates it when missing).
import type { Library } from './library.js';
import { CID_INDEX_DDL } from '../projections/entries.js';

const holders = new WeakMap<Library, number>();

/** Drops the content-id index unless another holder has; the function returned (once) gives it back. */
export function holdCidIndexOut(lib: Library): () => void {
  const n = holders.get(lib) ?? 0;
  if (n === 0) {
    lib.flush();
    lib.db.exec('DROP INDEX IF EXISTS entries_by_cid');
  }
  holders.set(lib, n + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (holders.get(lib) ?? 1) - 1;
    holders.set(lib, left);
    if (left > 0 || !lib.db.open) return;
    lib.flush();
    lib.db.exec(CID_INDEX_DDL);
  };
}

/** Whether the content-id index is held out right now (tests). */
export function cidIndexHeldOut(lib: Library): boolean {
  return (holders.get(lib) ?? 0) > 0;
}
