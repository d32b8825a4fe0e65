// sd search, sd dupes, sd stats: answered from the projection.
import { sep } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { toPath } from '../../projections/entries.js';
import { defineQuery } from '../define.js';
import { deviceRef } from '../entry/queries.js';

const Size = z.number().int().nonnegative();

export const search = defineQuery({
  name: 'search',
  summary: 'find entries by a substring of their name, with filters',
  input: z.object({
    query: z.string().default(''),
    ext: z.string().optional(),
    kind: z.enum(['image', 'video', 'audio', 'document', 'archive', 'code', 'text', 'other', 'folder', 'symlink']).optional(),
    tag: z.string().optional(),
    minSize: Size.optional(),
    maxSize: Size.optional(),
    modifiedAfter: z.string().optional(),
    location: z.string().optional(),
    device: z.string().optional(),
    limit: z.number().int().positive().max(10_000).default(50),
    sort: z.enum(['none', 'name', 'size', 'modified']).default('none'),
  }),
  run: ({ core, db }, q) => {
    const where: string[] = [];
    const args: unknown[] = [];
    let from = 'entries e';
    const text = q.query.trim();
    if (text.length >= 3) {
      // Trigram index: any substring of 3+ characters, case-insensitive.
      from = 'entries_fts f JOIN entries e ON e.id = f.rowid';
      where.push('entries_fts MATCH ?');
      args.push(`"${text.replaceAll('"', '""')}"`);
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
    if (q.minSize !== undefined) {
      where.push('e.size >= ?');
      args.push(q.minSize);
    }
    if (q.maxSize !== undefined) {
      where.push('e.size <= ?');
      args.push(q.maxSize);
    }
    if (q.modifiedAfter) {
      const ms = Date.parse(q.modifiedAfter);
      if (Number.isNaN(ms)) throw new SdError('E_BAD_INPUT', `--modified-after "${q.modifiedAfter}" is not an ISO date`);
      where.push('e.mtime >= ?');
      args.push(ms);
    }
    if (q.location) {
      where.push('(l.id = ? OR l.name = ? OR l.id LIKE ?)');
      args.push(q.location, q.location, `${q.location}%`);
    }
    if (q.device) {
      where.push('l.dev = ?');
      args.push(deviceRef(db, q.device, core.device.id));
    }
    if (q.tag) {
      where.push('e.cid IN (SELECT a.cid FROM tag_assign a JOIN tags t ON t.id = a.tag WHERE t.name = ? OR t.id = ?)');
      args.push(q.tag, q.tag);
    }
    // 'none' returns matches in index order and stops at the page: fast on any library size;
    // a sort has to rank every match first.
    const order = { none: '', name: 'ORDER BY e.name, e.id', size: 'ORDER BY e.size DESC, e.id', modified: 'ORDER BY e.mtime DESC, e.id' }[q.sort];
    const sql = `SELECT e.loc, e.key, e.name, e.t, e.size, e.mtime, e.kind, e.cid, l.path AS root, l.dev, d.name AS devName
      FROM ${from} JOIN locations l ON l.id = e.loc LEFT JOIN devices d ON d.dev = l.dev
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${order} LIMIT ?`;
    const rows = db.prepare(sql).all(...args, q.limit) as { loc: string; key: string; name: string; t: number; size: number; mtime: number; kind: string; cid: string | null; root: string; dev: string; devName: string | null }[];
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

export const dupes = defineQuery({
  name: 'dupes',
  summary: 'groups of files with the same content, biggest waste first',
  input: z.object({ minSize: Size.default(1), limit: z.number().int().positive().max(100_000).default(100) }),
  run: ({ db }, { minSize, limit }) => {
    const groups = db
      .prepare(
        `SELECT cid, MAX(size) AS size, COUNT(*) AS copies, (COUNT(*) - 1) * MAX(size) AS wasted FROM entries
         WHERE t = 0 AND cid IS NOT NULL AND size >= ? GROUP BY cid HAVING COUNT(*) > 1 ORDER BY wasted DESC, cid LIMIT ?`,
      )
      .all(minSize, limit) as { cid: string; size: number; copies: number; wasted: number }[];
    const files = db.prepare('SELECT e.key, l.path AS root, l.dev FROM entries e JOIN locations l ON l.id = e.loc WHERE e.cid = ? ORDER BY l.path, e.key');
    return groups.map((g) => ({
      ...g,
      contentId: g.cid,
      paths: (files.all(g.cid) as { key: string; root: string; dev: string }[]).map((f) => ({ path: f.root + sep + toPath(f.key).split('/').join(sep), device: f.dev })),
    }));
  },
});

export const stats = defineQuery({
  name: 'stats',
  summary: 'files, bytes, by kind, by location, by device, and wasted bytes',
  input: z.object({}),
  run: ({ db }) => {
    const total = db.prepare('SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM entries WHERE t = 0').get() as { files: number; bytes: number };
    const folders = (db.prepare('SELECT COUNT(*) AS n FROM entries WHERE t = 1').get() as { n: number }).n;
    const byKind = db.prepare('SELECT kind, COUNT(*) AS files, SUM(size) AS bytes FROM entries WHERE t = 0 GROUP BY kind ORDER BY bytes DESC').all();
    const byLocation = db.prepare('SELECT l.id, l.name, l.path, COUNT(e.id) AS files, COALESCE(SUM(e.size), 0) AS bytes FROM locations l LEFT JOIN entries e ON e.loc = l.id AND e.t = 0 GROUP BY l.id ORDER BY bytes DESC').all();
    const byDevice = db.prepare('SELECT l.dev, d.name, COUNT(e.id) AS files, COALESCE(SUM(e.size), 0) AS bytes FROM locations l LEFT JOIN devices d ON d.dev = l.dev LEFT JOIN entries e ON e.loc = l.id AND e.t = 0 GROUP BY l.dev ORDER BY bytes DESC').all();
    const waste = db.prepare('SELECT COALESCE(SUM(w), 0) AS wasted, COUNT(*) AS groups FROM (SELECT (COUNT(*) - 1) * MAX(size) AS w FROM entries WHERE t = 0 AND cid IS NOT NULL GROUP BY cid HAVING COUNT(*) > 1)').get() as { wasted: number; groups: number };
    const unidentified = (db.prepare('SELECT COUNT(*) AS n FROM entries WHERE t = 0 AND cid IS NULL').get() as { n: number }).n;
    return { ...total, folders, unidentified, duplicateGroups: waste.groups, wastedBytes: waste.wasted, byKind, byLocation, byDevice };
  },
});
