// sd ls and sd info: answered from the projection, without touching the disk.
import { resolve, sep } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { toKey, toPath, SEP } from '../../projections/entries.js';
import { defineQuery } from '../define.js';
import type { Db } from '../../library/library.js';
import type { ReadDb } from '../host.js';

interface Loc {
  id: string;
  dev: string;
  path: string;
  name: string;
}

/** Prepared once per database: a transfer's source places every file it serves. */
const locationsOf = new WeakMap<ReadDb, ReturnType<ReadDb['prepare']>>();

/** The location holding an absolute path (on the given device) and the path's key inside it. */
export function locate(db: ReadDb, absPath: string, dev: string): { loc: Loc; key: string } {
  const p = resolve(absPath);
  let q = locationsOf.get(db);
  if (!q) locationsOf.set(db, (q = db.prepare('SELECT id, dev, path, name FROM locations WHERE dev = ?')));
  const locs = (q.all(dev) as Loc[]).sort((a, b) => b.path.length - a.path.length);
  for (const loc of locs) {
    if (p === loc.path) return { loc, key: '' };
    const base = loc.path.endsWith(sep) ? loc.path : loc.path + sep;
    if (p.startsWith(base)) return { loc, key: toKey(p.slice(base.length).split(sep).join('/')) };
  }
  throw new SdError(
    'E_PATH_OUTSIDE_LOCATION',
    `${p} is not inside any location of this library (see \`sd location list\`)`,
    { path: p },
  );
}

export function deviceRef(db: ReadDb, ref: string | undefined, self: string): string {
  if (!ref) return self;
  const rows = db.prepare('SELECT dev, name FROM devices').all() as { dev: string; name: string }[];
  const hit = rows.filter((r) => r.dev === ref || r.name === ref || (ref.length >= 4 && r.dev.startsWith(ref)));
  if (hit.length === 1) return hit[0]!.dev;
  throw new SdError(
    hit.length ? 'E_AMBIGUOUS_DEVICE' : 'E_DEVICE_NOT_FOUND',
    hit.length ? `"${ref}" matches several devices` : `no device "${ref}" in this library`,
  );
}

/** name, t, size, mtime, kind, cid, dsize, dfiles */
type LsRow = [string, number, number, number, string, string | null, number | null, number | null];

const ENTRY_COLS = 'key, name, t, size, mtime, inode, kind, cid, dsize, dfiles';
interface EntryRow {
  key: string;
  name: string;
  t: number;
  size: number;
  mtime: number;
  inode: number;
  kind: string;
  cid: string | null;
  dsize: number | null;
  dfiles: number | null;
}

const shape = (loc: Loc, r: EntryRow) => ({
  name: r.name,
  path: loc.path + sep + toPath(r.key).split('/').join(sep),
  kind: r.t === 1 ? 'folder' : r.t === 2 ? 'symlink' : r.kind,
  isDir: r.t === 1,
  size: r.t === 1 ? r.dsize : r.size,
  files: r.t === 1 ? r.dfiles : null,
  modified: r.mtime,
  contentId: r.cid,
});

export const listDir = defineQuery({
  name: 'entry.ls',
  summary: 'list a folder from the index',
  input: z.object({
    path: z.string().optional(),
    device: z.string().optional(),
    limit: z.number().int().positive().max(1_000_000).default(100_000),
  }),
  run: ({ core, db }, input) => {
    const dev = deviceRef(db, input.device, core.device.id);
    if (!input.path) {
      const locs = db
        .prepare(
          'SELECT l.id, l.path, l.name, (SELECT COUNT(*) FROM entries e WHERE e.loc = l.id AND e.t = 0) AS files, (SELECT COALESCE(SUM(size),0) FROM entries e WHERE e.loc = l.id AND e.t = 0) AS bytes FROM locations l WHERE l.dev = ? ORDER BY l.path',
        )
        .all(dev) as { id: string; path: string; name: string; files: number; bytes: number }[];
      return {
        dir: null,
        device: dev,
        entries: locs.map((l) => ({
          name: l.name,
          path: l.path,
          kind: 'location',
          isDir: true,
          size: l.bytes,
          files: l.files,
          modified: null,
          contentId: null,
        })),
      };
    }
    const { loc, key } = locate(db, input.path, dev);
    if (key !== '') {
      const self = db.prepare('SELECT t FROM entries WHERE loc = ? AND key = ?').get(loc.id, key) as
        { t: number } | undefined;
      if (!self)
        throw new SdError(
          'E_NOT_INDEXED',
          `${resolve(input.path)} is not in the index (not indexed yet, skipped by a rule, or gone)`,
        );
      if (self.t !== 1) throw new SdError('E_NOT_A_FOLDER', `${resolve(input.path)} is a file; use \`sd info\``);
    }
    // Index order (by name), folders first; paths built from the folder's path, not per row.
    // The rows come as one JSON array that SQLite builds and V8's JSON.parse reads: on Node 20,
    // better-sqlite3 builds each row with one property store per column, and a 10,000-entry
    // folder (common) took 1.8x the CPU that way. Every column is text or an integer, which JSON
    // carries exactly; the aggregate takes the subquery's rows in its order (by name).
    const json = db
      .prepare(
        `SELECT json_group_array(json_array(name, t, size, mtime, kind, cid, dsize, dfiles)) FROM
           (SELECT name, t, size, mtime, kind, cid, dsize, dfiles FROM entries WHERE loc = ? AND parent = ? ORDER BY name LIMIT ?)`,
      )
      .pluck()
      .get(loc.id, key, input.limit) as string;
    const rows = JSON.parse(json) as LsRow[];
    const dirPath = key === '' ? loc.path : loc.path + sep + toPath(key).split('/').join(sep);
    const entries = new Array(rows.length);
    let n = 0;
    for (const pass of [1, 0]) {
      for (const [name, t, size, mtime, kind, cid, dsize, dfiles] of rows) {
        if ((t === 1) !== (pass === 1)) continue;
        entries[n++] = {
          name,
          path: dirPath + sep + name,
          kind: t === 1 ? 'folder' : t === 2 ? 'symlink' : kind,
          isDir: t === 1,
          size: t === 1 ? dsize : size,
          files: t === 1 ? dfiles : null,
          modified: mtime,
          contentId: cid,
        };
      }
    }
    return { dir: dirPath, device: dev, location: loc.name, entries };
  },
});

/** `sd info`: a location's root has no content, so no tags, note or favourite. */
export type EntryInfo = ReturnType<typeof shape> & {
  tags?: string[];
  note?: string | null;
  favourite?: boolean;
  inode?: number;
  parent?: string;
  location: { id: string; name: string; path: string };
  device: string;
  /** Other entries with the same content, on any device. */
  copies: { path: string; device: string }[];
};

export const entryInfo = defineQuery({
  name: 'entry.info',
  summary: 'everything known about one entry',
  input: z.object({ path: z.string().min(1), device: z.string().optional() }),
  run: ({ core, db }, input): EntryInfo => {
    const dev = deviceRef(db, input.device, core.device.id);
    const { loc, key } = locate(db, input.path, dev);
    if (key === '') {
      return {
        ...shape(loc, {
          key: '',
          name: loc.name,
          t: 1,
          size: 0,
          mtime: 0,
          inode: 0,
          kind: 'folder',
          cid: null,
          dsize: null,
          dfiles: null,
        }),
        location: { id: loc.id, name: loc.name, path: loc.path },
        device: dev,
        copies: [],
      };
    }
    const r = db.prepare(`SELECT ${ENTRY_COLS} FROM entries WHERE loc = ? AND key = ?`).get(loc.id, key) as
      EntryRow | undefined;
    if (!r)
      throw new SdError(
        'E_NOT_INDEXED',
        `${resolve(input.path)} is not in the index (not indexed yet, skipped by a rule, or gone)`,
      );
    const copies = r.cid
      ? (
          db
            .prepare(
              'SELECT e.key, l.path, l.dev FROM entries e JOIN locations l ON l.id = e.loc WHERE e.cid = ? AND NOT (e.loc = ? AND e.key = ?) LIMIT 100',
            )
            .all(r.cid, loc.id, key) as { key: string; path: string; dev: string }[]
        ).map((c) => ({ path: c.path + sep + toPath(c.key).split('/').join(sep), device: c.dev }))
      : [];
    const tags = r.cid
      ? (
          db
            .prepare(
              'SELECT DISTINCT t.name FROM tag_assign a JOIN tags t ON t.id = a.tag WHERE a.cid = ? ORDER BY t.name',
            )
            .all(r.cid) as { name: string }[]
        ).map((x) => x.name)
      : [];
    const note = r.cid
      ? ((db.prepare('SELECT text FROM notes WHERE cid = ?').get(r.cid) as { text: string } | undefined)?.text ?? null)
      : null;
    const favourite = r.cid ? !!db.prepare('SELECT 1 FROM favs WHERE cid = ?').get(r.cid) : false;
    return {
      ...shape(loc, r),
      tags,
      note,
      favourite,
      inode: r.inode,
      parent: toPath(r.key.includes(SEP) ? r.key.slice(0, r.key.lastIndexOf(SEP)) : ''),
      location: { id: loc.id, name: loc.name, path: loc.path },
      device: dev,
      copies,
    };
  },
});
