// Paths given by a user, resolved to indexed files and their content ids.
import { resolve } from 'node:path';
import { SdError } from '../../errors.js';
import { SEP, toPath } from '../../projections/entries.js';
import type { Db } from '../../library/library.js';
import { locate } from './queries.js';
import type { ReadDb } from '../host.js';

export interface ResolvedFile {
  path: string;
  cid: string;
}

/** Files (a folder's files with `recursive`) with their content ids; refuses unknown paths. */
export function resolveFiles(db: ReadDb, paths: string[], dev: string, recursive: boolean): ResolvedFile[] {
  const out: ResolvedFile[] = [];
  const unidentified: string[] = [];
  for (const p of paths) {
    const { loc, key } = locate(db, p, dev);
    const row =
      key === ''
        ? { t: 1, cid: null }
        : (db.prepare('SELECT t, cid FROM entries WHERE loc = ? AND key = ?').get(loc.id, key) as
            { t: number; cid: string | null } | undefined);
    if (!row) throw new SdError('E_NOT_INDEXED', `${resolve(p)} is not in the index`, { path: resolve(p) });
    if (row.t === 1) {
      if (!recursive)
        throw new SdError('E_IS_A_FOLDER', `${resolve(p)} is a folder; add --recursive to use the files inside it`, {
          path: resolve(p),
        });
      const lo = key === '' ? '' : key + SEP;
      const hi = key === '' ? '\uffff' : key + '\u0002';
      const files = db
        .prepare('SELECT key, cid FROM entries WHERE loc = ? AND key > ? AND key < ? AND t = 0')
        .all(loc.id, lo, hi) as { key: string; cid: string | null }[];
      for (const f of files) {
        const fp = `${loc.path}/${toPath(f.key)}`;
        if (f.cid) out.push({ path: fp, cid: f.cid });
        else unidentified.push(fp);
      }
    } else if (row.t === 2) {
      throw new SdError('E_IS_A_SYMLINK', `${resolve(p)} is a symlink; tag what it points to`, { path: resolve(p) });
    } else if (row.cid) out.push({ path: resolve(p), cid: row.cid });
    else unidentified.push(resolve(p));
  }
  if (unidentified.length) {
    throw new SdError(
      'E_NOT_IDENTIFIED',
      `${unidentified.length} file(s) are not identified yet (their index job is still running), e.g. ${unidentified[0]}`,
      { paths: unidentified.slice(0, 20) },
    );
  }
  return out;
}
