// A projector turns events of some types into rows. Projections are derived data: the
// checksum of every projection table must be the same after a replay of the log.
import type { Database, Statement } from 'better-sqlite3-multiple-ciphers';
import type { StoredEvent } from '../events/log.js';
import type { SharedProvider } from '../shared/provider.js';

export interface TableDef {
  name: string;
  ddl: string;
  /** ORDER BY clause that makes the checksum deterministic (the primary key). */
  orderBy: string;
  /** Columns left out of the checksum (none by default). */
  exclude?: string[];
  /** The table the rows are stored in, when `name` is a view over it (a rebuild empties it). */
  store?: string;
}

/**
 * What projecting into one database needs beyond the event: passed explicitly by whoever owns the
 * database (the live library, a replay, a rebuild), never looked up from a module-global map.
 */
export interface ProjectionContext {
  readonly db: Database;
  /** Where the shared-metadata projector finds the Automerge documents (the library switches it). */
  shared: SharedProvider;
  /** Called once a rebuild in place has emptied the projections, before the log is projected again. */
  readonly rebuilt?: () => void;
}

export interface Projector {
  name: string;
  tables: TableDef[];
  /** Extra DDL (indexes, FTS) that is not itself checksummed. */
  extraDdl?: string;
  handlers: Record<string, (db: Database, ev: StoredEvent, ctx: ProjectionContext) => void>;
}

const cache = new WeakMap<object, Map<string, unknown>>();

/**
 * Prepared statements cached per connection: projections run on the live db and on replays, and
 * checks made for every path of a command read through a preview's read-only view of it.
 */
export function stmt(db: Database, sql: string): Statement;
export function stmt<S>(db: { prepare(sql: string): S }, sql: string): S;
export function stmt(db: { prepare(sql: string): unknown }, sql: string): unknown {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}
