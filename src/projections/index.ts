// Every projector of the library database, in one list: the live projection, the replay and the
// checksum all walk the same list. `project` is the one door: an event reaches a projector only if
// the rules say it counts (rules.ts, roster.ts); otherwise its refusal is recorded.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import type { StoredEvent } from '../events/log.js';
import { rowToEvent } from '../events/log.js';
import { blake3, hex, streamHasher } from '../events/hash.js';
import { pack } from '../events/codec.js';
import { auditProjector } from './audit.js';
import { libraryProjector, writeRoster } from './library.js';
import { entriesProjector } from './entries.js';
import { sharedProjector, unbatchedShared } from './shared.js';
import { computeRoster, ROSTER_TYPES, type RosterEvent } from './roster.js';
import { admit, recordRefusal, standing } from './rules.js';
import { trashProjector } from './trash.js';
import { sharingProjector } from './sharing.js';
import type { ProjectionContext, Projector, TableDef } from './types.js';
import { stmt } from './types.js';

const projectors: Projector[] = [
  libraryProjector,
  auditProjector,
  entriesProjector,
  sharedProjector,
  trashProjector,
  sharingProjector,
];
type Handler = Projector['handlers'][string];
const handlers = new Map<string, Handler[]>();

export function registerProjector(p: Projector): void {
  if (projectors.includes(p)) return;
  projectors.push(p);
  handlers.clear();
}

function handlerMap(): Map<string, Handler[]> {
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

/**
 * Applies one stored event to the projections, or records why it has no effect. `checked`: the
 * catalogue already passed it (this device's own appends are checked before they are signed).
 */
export function project(ctx: ProjectionContext, ev: StoredEvent, checked = false): void {
  if (ROSTER_TYPES.has(ev.type)) return unbatchedShared(ctx, () => applyRoster(ctx, ev.lib));
  projectCounted(ctx, ev, checked);
}

function projectCounted(ctx: ProjectionContext, ev: StoredEvent, checked = false): void {
  const { db } = ctx;
  const st = standing(db, ev.dev, ev.seq);
  // A device not on the roster yet: its events count once its device.added arrives.
  if (st === 'pending') return;
  const refusal =
    st === 'revoked'
      ? { code: 'E_REVOKED', reason: 'its device was revoked before this event' }
      : admit(db, ev, checked);
  if (refusal) return recordRefusal(db, ev, refusal);
  const list = handlerMap().get(ev.type);
  if (list) for (const fn of list) fn(db, ev, ctx);
}

const ROSTER_SQL = `SELECT dev, seq, hash, type, bytes, sig FROM events
  WHERE type IN (${[...ROSTER_TYPES].map((t) => `'${t}'`).join(', ')})`;

function rosterEvents(db: Database): RosterEvent[] {
  const rows = stmt(db, ROSTER_SQL).all() as Parameters<typeof rowToEvent>[0][];
  return rows.map((r) => ({ ...rowToEvent(r), size: r.bytes.length }));
}

type Standings = Map<string, number>;
const standings = (db: Database): Standings =>
  new Map(
    (stmt(db, 'SELECT dev, revoked_seq FROM devices').all() as { dev: string; revoked_seq: number | null }[]).map(
      (r) => [r.dev, r.revoked_seq ?? Infinity],
    ),
  );

/**
 * Recomputes the roster. A device that joined gets its stored events applied now; any other
 * change to which stored events count (a late revocation, a refused add) rebuilds in place.
 */
function applyRoster(ctx: ProjectionContext, lib: string): void {
  const { db } = ctx;
  const was = standings(db);
  writeRoster(db, computeRoster(lib, rosterEvents(db)));
  const now = standings(db);
  const joined: string[] = [];
  let rebuild = false;
  for (const dev of new Set([...was.keys(), ...now.keys()])) {
    const a = was.get(dev);
    const b = now.get(dev);
    if (a === b) continue;
    if (a === undefined) joined.push(dev);
    else if (storedBetween(db, dev, Math.min(a, b ?? 0), Math.max(a, b ?? 0))) rebuild = true;
  }
  if (rebuild) {
    rebuildInPlace(ctx, lib);
    return;
  }
  for (const dev of joined)
    forEachStored(db, dev, (ev) => {
      if (!ROSTER_TYPES.has(ev.type)) projectCounted(ctx, ev);
    });
}

function storedBetween(db: Database, dev: string, lo: number, hi: number): boolean {
  const q = `SELECT 1 FROM events WHERE dev = ? AND seq > ? AND seq <= ? AND type NOT IN (${[...ROSTER_TYPES]
    .map((t) => `'${t}'`)
    .join(', ')}) LIMIT 1`;
  return !!stmt(db, q).get(dev, lo, Number.isFinite(hi) ? hi : Number.MAX_SAFE_INTEGER);
}

/** Calls fn for every stored event of a device in seq order, in pages (no open cursor while writing). */
function forEachStored(db: Database, dev: string, fn: (ev: StoredEvent) => void): void {
  const page = stmt(
    db,
    'SELECT dev, seq, hash, type, bytes, sig FROM events WHERE dev = ? AND seq > ? ORDER BY seq LIMIT 2000',
  );
  for (let after = 0; ;) {
    const rows = page.all(dev, after) as Parameters<typeof rowToEvent>[0][];
    if (rows.length === 0) return;
    for (const r of rows) fn(rowToEvent(r));
    after = rows[rows.length - 1]!.seq;
  }
}

/** Empties every projection table, then projects the whole log again (same order as a replay). */
export function rebuildInPlace(ctx: ProjectionContext, lib: string, progress?: (done: number) => void): number {
  const { db } = ctx;
  // The name index first, so deleting entries does not also delete their index rows one by one.
  db.exec("INSERT INTO entries_fts (entries_fts) VALUES ('delete-all'); UPDATE entries_fts_state SET upto = 0");
  for (const t of projectionTables()) db.exec(`DELETE FROM ${t.store ?? t.name}`);
  ctx.rebuilt?.();
  return projectAll(db, ctx, lib, progress);
}

export interface Mangled {
  dev: string;
  seq: number;
  reason: string;
}

/**
 * Projects every event of `source` into `target`'s database: the roster first (a function of the roster
 * events), then every other event feed by feed in seq order. Events that do not decode are
 * reported in `mangled`, not thrown.
 */
export function projectAll(
  source: Database,
  target: ProjectionContext,
  lib: string,
  progress?: (done: number) => void,
  mangled: Mangled[] = [],
): number {
  const roster: RosterEvent[] = [];
  for (const r of source.prepare(ROSTER_SQL).all() as Parameters<typeof rowToEvent>[0][]) {
    try {
      roster.push({ ...rowToEvent(r), size: r.bytes.length });
    } catch (e) {
      mangled.push({ dev: r.dev, seq: r.seq, reason: (e as Error).message });
    }
  }
  writeRoster(target.db, computeRoster(lib, roster));
  const page = source.prepare(
    'SELECT dev, seq, hash, type, bytes, sig FROM events WHERE (dev, seq) > (?, ?) ORDER BY dev, seq LIMIT 5000',
  );
  let n = roster.length;
  for (let dev = '', seq = 0; ;) {
    const rows = page.all(dev, seq) as Parameters<typeof rowToEvent>[0][];
    if (rows.length === 0) break;
    for (const r of rows) {
      if (ROSTER_TYPES.has(r.type)) continue;
      n++;
      let ev: StoredEvent;
      try {
        ev = rowToEvent(r);
      } catch (e) {
        mangled.push({ dev: r.dev, seq: r.seq, reason: (e as Error).message });
        continue;
      }
      projectCounted(target, ev);
    }
    ({ dev, seq } = rows[rows.length - 1]!);
    progress?.(n);
  }
  return n;
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
