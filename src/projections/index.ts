// Every projector of the library database, in one list: the live projection, the replay and the
// checksum all walk the same list.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import type { StoredEvent } from '../events/log.js';
import { blake3, hex, streamHasher } from '../events/hash.js';
import { pack } from '../events/codec.js';
import { auditProjector } from './audit.js';
import { libraryProjector } from './library.js';
import { entriesProjector } from './entries.js';
import { sharedProjector } from './shared.js';
import { trashProjector } from './trash.js';
import type { Projector, TableDef } from './types.js';

const projectors: Projector[] = [libraryProjector, auditProjector, entriesProjector, sharedProjector, trashProjector];
const handlers = new Map<string, ((db: Database, ev: StoredEvent) => void)[]>();

export function registerProjector(p: Projector): void {
  if (projectors.includes(p)) return;
  projectors.push(p);
  handlers.clear();
}

function handlerMap(): Map<string, ((db: Database, ev: StoredEvent) => void)[]> {
  if (handlers.size === 0) {
    for (const p of projectors) {
      for (const [type, fn] of Object.entries(p.handlers)) {
        const list = handlers.get(type) ?? [];
        list.push(fn);
        handlers.set(type, list);
      }
    }
  }
  return handlers;
}

export function projectionTables(): TableDef[] {
  return projectors.flatMap((p) => p.tables);
}

export function applySchema(db: Database): void {
  for (const p of projectors) {
    for (const t of p.tables) db.exec(t.ddl);
    if (p.extraDdl) db.exec(p.extraDdl);
  }
}

export function project(db: Database, ev: StoredEvent): void {
  const list = handlerMap().get(ev.type);
  if (list) for (const fn of list) fn(db, ev);
}

/** One checksum per projection table plus a total, computed from rows in primary-key order. */
export function checksums(db: Database): { tables: Record<string, { rows: number; sum: string }>; total: string } {
  const tables: Record<string, { rows: number; sum: string }> = {};
  const parts: Uint8Array[] = [];
  for (const t of projectionTables()) {
    const cols = (db.prepare(`PRAGMA table_info(${t.name})`).all() as { name: string }[])
      .map((c) => c.name)
      .filter((c) => !t.exclude?.includes(c));
    const h = streamHasher();
    h.update(pack(t.name));
    let rows = 0;
    for (const row of db
      .prepare(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${t.name} ORDER BY ${t.orderBy}`)
      .raw()
      .iterate() as IterableIterator<unknown[]>) {
      rows++;
      const bytes = pack(row);
      h.update(pack(bytes.length));
      h.update(bytes);
    }
    const sum = h.digest('binary');
    tables[t.name] = { rows, sum: hex(sum).slice(0, 16) };
    parts.push(sum);
  }
  return { tables, total: hex(blake3(...parts)).slice(0, 16) };
}
