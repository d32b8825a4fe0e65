// Trash records come from the log: the events a file operation appends for its trash steps,
// projected by projections/trash.ts. Called inside the command's write unit.
import type { Library } from '../../library/library.js';
import type { TrashItem } from '../../projections/trash.js';
import type { Step } from './steps.js';
import { inBatches } from '../../events/batches.js';

const relTo = (root: string, abs: string): string => abs.slice(root.length + (root.endsWith('/') ? 0 : 1));

/** One `trash.added` event for the items a command moved into one location's trash. */
export function trashAdded(lib: Library, loc: string, batch: string, steps: Step[]): void {
  const items: TrashItem[] = steps.map((s) => ({
    id: s.trash!.id,
    orig: relTo(s.fromRoot!, s.trash!.orig),
    item: relTo(s.toRoot!, s.to!),
    reason: s.trash!.reason,
    files: s.manifest?.files ?? 0,
    bytes: s.manifest?.bytes ?? 0,
  }));
  for (const b of inBatches(items, 10_000, 'trash.added')) lib.append('trash.added', { loc, batch, items: b });
}

export function trashRemoved(lib: Library, loc: string, ids: string[]): void {
  for (let i = 0; i < ids.length; i += 10_000) lib.append('trash.removed', { loc, ids: ids.slice(i, i + 10_000) });
}

/**
 * Libraries from before the trash was a projection kept it in an operational `trash` table:
 * its rows become `trash.added` events of this device once, and the table goes.
 */
export function migrateTrashTable(lib: Library): void {
  const db = lib.db;
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trash'").get()) return;
  const rows = db
    .prepare('SELECT t.*, l.path AS root FROM trash t JOIN locations l ON l.id = t.loc AND l.dev = ?')
    .all(lib.log.deviceId) as {
    id: string;
    batch: string;
    loc: string;
    orig: string;
    path: string;
    reason: string;
    files: number;
    bytes: number;
    root: string;
  }[];
  const byLoc = new Map<string, { batch: string; items: TrashItem[] }>();
  for (const r of rows) {
    const g = byLoc.get(r.loc) ?? byLoc.set(r.loc, { batch: r.batch, items: [] }).get(r.loc)!;
    g.items.push({
      id: r.id,
      orig: relTo(r.root, r.orig),
      item: relTo(r.root, r.path),
      reason: r.reason === 'overwritten' ? 'overwritten' : 'removed',
      files: r.files,
      bytes: r.bytes,
    });
  }
  for (const [loc, g] of byLoc) lib.append('trash.added', { loc, batch: g.batch, items: g.items });
  db.exec('DROP TABLE trash');
}
