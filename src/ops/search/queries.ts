// sd search, sd dupes, sd stats: answered from the projection.
import { sep } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { toPath } from '../../projections/entries.js';
import { defineQuery } from '../define.js';
import { deviceRef } from '../entry/queries.js';
import { knownLocations, knownTags } from './filters.js';

const Size = z.number().int().nonnegative();

export const search = defineQuery({
  name: 'search',
  summary: 'find entries by a substring of their name, with filters',
  input: z.object({
    query: z.string().default(''),
    ext: z.string().optional(),
    kind: z
      .enum(['image', 'video', 'audio', 'document', 'archive', 'code', 'text', 'other', 'folder', 'symlink'])
      .optional(),
    tag: z.string().optional(),
    minSize: Size.optional(),
    maxSize: Size.optional(),
    modifiedAfter: z.string().optional(),
    location: z.string().optional(),
    device: z.string().optional(),
    // One over the CLI's largest page: it asks for one more to say whether the results were cut.
    limit: z.number().int().positive().max(10_001).default(50),
    /** Matches to skip (pages: `sd search --page N`). */
    offset: z.number().int().nonnegative().max(1_000_000).default(0),
    sort: z.enum(['none', 'name', 'size', 'modified']).default('none'),
    /** Only favourites. */
    fav: z.boolean().optional(),
  }),
  run: ({ core, db }, q) => {
    const where: string[] = [];
    const args: unknown[] = [];
    let from = 'entries e';
    const text = q.query.trim();
    if (text.length >= 3) {
      // Trigram index: any substring of 3+ characters, case-insensitive. Rows newer than the
      // index (it catches up once writes pause) are matched directly, so results are exact.
      from = `(SELECT rowid AS id FROM entries_fts WHERE entries_fts MATCH ?
        UNION ALL SELECT id FROM entries_t WHERE id > (SELECT upto FROM entries_fts_state) AND name LIKE ? ESCAPE '\\') m
        JOIN entries e ON e.id = m.id`;
      args.push(`"${text.replaceAll('"', '""')}"`, `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    } else if (text.length > 0) {
      where.push("e.name LIKE ? ESCAPE '\\'");
      args.push(`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    if (q.ext) {
      where.push("e.name LIKE ? ESCAPE '\\'");
      args.push(`%.${q.ext.replace(/^\./, '').replace(/[\\%_]/g, (c) => `\\${c}`)}`);
    }
    if (q.kind === 'folder') where.push('e.t = 1');
    else if (q.kind === 'symlink') where.push('e.t = 2');
    else if (q.kind) {
      where.push('e.t = 0 AND e.kind = ?');
      args.push(q.kind);
    }
    // A folder's size is the total of what it holds, as `sd ls` shows it.
    const size = '(CASE WHEN e.t = 1 THEN COALESCE(e.dsize, 0) ELSE e.size END)';
    if (q.minSize !== undefined) {
      where.push(`${size} >= ?`);
      args.push(q.minSize);
    }
    if (q.maxSize !== undefined) {
      where.push(`${size} <= ?`);
      args.push(q.maxSize);
    }
    if (q.modifiedAfter) {
      const ms = Date.parse(q.modifiedAfter);
      if (Number.isNaN(ms))
        throw new SdError('E_BAD_INPUT', `--modified-after "${q.modifiedAfter}" is not an ISO date`);
      where.push('e.mtime >= ?');
      args.push(ms);
    }
    if (q.location) {
      const locs = knownLocations(db, q.location);
      where.push(`l.id IN (${locs.map(() => '?').join(', ')})`);
      args.push(...locs);
    }
    if (q.device) {
      where.push('l.dev = ?');
      args.push(deviceRef(db, q.device, core.device.id));
    }
    if (q.tag) {
      const tags = knownTags(db, q.tag);
      where.push(`e.cid IN (SELECT cid FROM tag_assign WHERE tag IN (${tags.map(() => '?').join(', ')}))`);
      args.push(...tags);
    }
    if (q.fav) where.push('e.cid IN (SELECT cid FROM favs)');
    // 'none' returns matches in index order and stops at the page: fast on any library size;
    // a sort has to rank every match first.
    const order = {
      none: '',
      name: 'ORDER BY e.name, e.id',
      size: 'ORDER BY e.size DESC, e.id',
      modified: 'ORDER BY e.mtime DESC, e.id',
    }[q.sort];
    const sql = `SELECT e.loc, e.key, e.name, e.t, ${size} AS size, e.mtime, e.kind, e.cid, l.path AS root, l.dev, d.name AS devName
      FROM ${from} JOIN locations l ON l.id = e.loc LEFT JOIN devices d ON d.dev = l.dev
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${order} LIMIT ? OFFSET ?`;
    const rows = db.prepare(sql).all(...args, q.limit, q.offset) as {
      loc: string;
      key: string;
      name: string;
      t: number;
      size: number;
      mtime: number;
      kind: string;
      cid: string | null;
      root: string;
      dev: string;
      devName: string | null;
    }[];
    return rows.map((r) => ({
      name: r.name,
      path: r.root + sep + toPath(r.key).split('/').join(sep),
      kind: r.t === 1 ? 'folder' : r.t === 2 ? 'symlink' : r.kind,
      size: r.size,
      modified: r.mtime,
      contentId: r.cid,
      device: r.dev,
      deviceName: r.devName,
    }));
  },
});

/**
 * Same content on one device is waste; the same content on another device is a backup. A group
 * is listed when some device holds two or more copies; its waste counts the extra copies on each
 * device. Every copy is listed with its device, so the same path on two devices reads as two
 * copies. With a device, only the waste on that device counts.
 */
export const dupes = defineQuery({
  name: 'dupes',
  summary: 'groups of files with the same content on one device, biggest waste first',
  input: z.object({
    minSize: Size.default(1),
    limit: z.number().int().positive().max(100_000).default(100),
    device: z.string().optional(),
  }),
  run: ({ core, db }, { minSize, limit, device }) => {
    const dev = device === undefined ? undefined : deviceRef(db, device, core.device.id);
    const groups = db
      .prepare(
        `SELECT e.cid, MAX(e.size) AS size, COUNT(*) AS copies, COUNT(DISTINCT l.dev) AS devices,
           (COUNT(*) - COUNT(DISTINCT l.dev)) * MAX(e.size) AS wasted
         FROM entries e JOIN locations l ON l.id = e.loc
         WHERE e.t = 0 AND e.cid IS NOT NULL AND e.size >= ? ${dev ? 'AND l.dev = ?' : ''}
         GROUP BY e.cid HAVING COUNT(*) > COUNT(DISTINCT l.dev) ORDER BY wasted DESC, e.cid LIMIT ?`,
      )
      .all(...(dev ? [minSize, dev, limit] : [minSize, limit])) as {
      cid: string;
      size: number;
      copies: number;
      devices: number;
      wasted: number;
    }[];
    const files = db.prepare(
      `SELECT e.key, l.path AS root, l.dev, d.name AS devName FROM entries e JOIN locations l ON l.id = e.loc
       LEFT JOIN devices d ON d.dev = l.dev WHERE e.cid = ? ORDER BY l.dev = ? DESC, d.name, l.dev, l.path, e.key`,
    );
    return groups.map((g) => {
      const paths = (
        files.all(g.cid, dev ?? core.device.id) as { key: string; root: string; dev: string; devName: string | null }[]
      ).map((f) => ({
        path: f.root + sep + toPath(f.key).split('/').join(sep),
        device: f.dev,
        deviceName: f.devName,
      }));
      return {
        contentId: g.cid,
        cid: g.cid,
        size: g.size,
        copies: paths.length,
        // Copies on the device(s) looked at; the others are backups of them.
        wasted: g.wasted,
        devices: new Set(paths.map((p) => p.device)).size,
        paths,
      };
    });
  },
});

/** `sd stats`: totals, and the same split by kind, location and device (largest first). */
export interface Stats {
  files: number;
  bytes: number;
  folders: number;
  unidentified: number;
  duplicateGroups: number;
  wastedBytes: number;
  byKind: { kind: string; files: number; bytes: number }[];
  byLocation: { id: string; name: string; path: string; files: number; bytes: number }[];
  byDevice: { dev: string; name: string | null; files: number; bytes: number }[];
}

const statsCache = new WeakMap<object, { version: number; stats: Stats }>();

export const stats = defineQuery({
  name: 'stats',
  summary: 'files, bytes, by kind, by location, by device, and wasted bytes',
  input: z.object({}),
  run: ({ db }): Stats => {
    // Every cached answer is for one state of the database: data_version moves with any commit.
    const version = db.pragma('data_version', { simple: true }) as number;
    const hit = statsCache.get(db);
    if (hit && hit.version === version) return hit.stats;
    // One pass over the entries, grouped small (location x type x kind), summed here.
    const groups = db
      .prepare(
        'SELECT loc, t, kind, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes, SUM(cid IS NULL) AS unid FROM entries GROUP BY loc, t, kind',
      )
      .all() as { loc: string; t: number; kind: string; n: number; bytes: number; unid: number }[];
    const locations = db
      .prepare(
        'SELECT l.id, l.name, l.path, l.dev, d.name AS devName FROM locations l LEFT JOIN devices d ON d.dev = l.dev',
      )
      .all() as { id: string; name: string; path: string; dev: string; devName: string | null }[];
    let files = 0;
    let bytes = 0;
    let folders = 0;
    let unidentified = 0;
    const kinds = new Map<string, { kind: string; files: number; bytes: number }>();
    const locs = new Map(locations.map((l) => [l.id, { id: l.id, name: l.name, path: l.path, files: 0, bytes: 0 }]));
    for (const g of groups) {
      if (g.t === 1) folders += g.n;
      if (g.t !== 0) continue;
      files += g.n;
      bytes += g.bytes;
      unidentified += g.unid;
      const k = kinds.get(g.kind) ?? kinds.set(g.kind, { kind: g.kind, files: 0, bytes: 0 }).get(g.kind)!;
      k.files += g.n;
      k.bytes += g.bytes;
      const l = locs.get(g.loc);
      if (l) {
        l.files += g.n;
        l.bytes += g.bytes;
      }
    }
    const devices = new Map<string, { dev: string; name: string | null; files: number; bytes: number }>();
    for (const l of locations) {
      const d =
        devices.get(l.dev) ?? devices.set(l.dev, { dev: l.dev, name: l.devName, files: 0, bytes: 0 }).get(l.dev)!;
      d.files += locs.get(l.id)!.files;
      d.bytes += locs.get(l.id)!.bytes;
    }
    const byBytes = (a: { bytes: number }, b: { bytes: number }): number => b.bytes - a.bytes;
    const waste = db
      .prepare(
        // Waste is extra copies on one device; a copy on another device is a backup (see dupes).
        `SELECT COALESCE(SUM(w), 0) AS wasted, COUNT(*) AS groups FROM (SELECT (COUNT(*) - COUNT(DISTINCT l.dev)) * MAX(e.size) AS w
         FROM entries e JOIN locations l ON l.id = e.loc WHERE e.cid IS NOT NULL AND e.t = 0 GROUP BY e.cid HAVING COUNT(*) > COUNT(DISTINCT l.dev))`,
      )
      .get() as { wasted: number; groups: number };
    const stats: Stats = {
      files,
      bytes,
      folders,
      unidentified,
      duplicateGroups: waste.groups,
      wastedBytes: waste.wasted,
      byKind: [...kinds.values()].sort(byBytes),
      byLocation: [...locs.values()].sort(byBytes),
      byDevice: [...devices.values()].sort(byBytes),
    };
    statsCache.set(db, { version, stats });
    return stats;
  },
});
