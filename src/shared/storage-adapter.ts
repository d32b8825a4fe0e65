// automerge-repo storage on the library's SQLite: one table of (encoded key -> blob).
// Keys are string arrays; each component is escaped so it never contains '/', then the
// components are joined with '/'. A prefix [a, b] then matches exactly the rows whose key is
// "a/b" or lies in ["a/b/", "a/b0") ('0' is the byte after '/'), an indexed range on the
// primary key, and no two distinct arrays share an encoding.
import type Database from 'better-sqlite3-multiple-ciphers';
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo';
import { SdError } from '../errors.js';

export const STORAGE_TABLE = 'automerge_store';

const SEP = '/';
const AFTER_SEP = '0'; // String.fromCharCode('/'.charCodeAt(0) + 1)

/** '%' -> '%25' first, then '/' -> '%2F': reversible, and the result has no '/'. */
function escapeComponent(s: string): string {
  return s.replace(/%/g, '%25').replace(/\//g, '%2F');
}

function unescapeComponent(s: string): string {
  return s.replace(/%2F/g, '/').replace(/%25/g, '%');
}

export function encodeKey(key: StorageKey): string {
  return key.map(escapeComponent).join(SEP);
}

export function decodeKey(encoded: string): StorageKey {
  return encoded.split(SEP).map(unescapeComponent);
}

function requireKey(key: StorageKey): string {
  // [] would encode like [''], and automerge-repo never stores under the empty key.
  if (!Array.isArray(key) || key.length === 0)
    throw new SdError('E_BAD_STORAGE_KEY', 'an automerge storage key must be a non-empty array of strings');
  return encodeKey(key);
}

/** better-sqlite3 returns Buffers; automerge-repo (and its tests) expect plain Uint8Arrays. */
function toBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

interface Row {
  key: string;
  data: Buffer;
}

export class SqliteStorageAdapter implements StorageAdapterInterface {
  private readonly stmts: {
    load: Database.Statement<[string], Row>;
    save: Database.Statement<[string, Uint8Array]>;
    remove: Database.Statement<[string]>;
    loadRange: Database.Statement<[string, string, string], Row>;
    removeRange: Database.Statement<[string, string, string]>;
    loadAll: Database.Statement<[], Row>;
    removeAll: Database.Statement<[]>;
  };

  constructor(
    private readonly db: Database.Database,
    readonly table: string = STORAGE_TABLE,
  ) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table))
      throw new SdError('E_BAD_TABLE_NAME', `"${table}" is not a valid table name`);
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, data BLOB NOT NULL)`);
    // Range predicate: the key itself, or a key below it in the hierarchy (see the header).
    const range = `key = ? OR (key >= ? AND key < ?)`;
    this.stmts = {
      load: db.prepare(`SELECT key, data FROM ${table} WHERE key = ?`),
      // Upsert keeps the rowid, so loadRange keeps returning chunks in first-save order.
      save: db.prepare(
        `INSERT INTO ${table} (key, data) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data`,
      ),
      remove: db.prepare(`DELETE FROM ${table} WHERE key = ?`),
      loadRange: db.prepare(`SELECT key, data FROM ${table} WHERE ${range} ORDER BY rowid`),
      removeRange: db.prepare(`DELETE FROM ${table} WHERE ${range}`),
      loadAll: db.prepare(`SELECT key, data FROM ${table} ORDER BY rowid`),
      removeAll: db.prepare(`DELETE FROM ${table}`),
    };
  }

  private detached = false;

  /** From now on saves and removes do nothing and loads find nothing (the documents were dropped). */
  detach(): void {
    this.detached = true;
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    if (this.detached) return undefined;
    const row = this.stmts.load.get(requireKey(key));
    return row ? toBytes(row.data) : undefined;
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    if (this.detached || !this.db.open) return;
    this.stmts.save.run(requireKey(key), data);
  }

  async remove(key: StorageKey): Promise<void> {
    if (this.detached) return;
    this.stmts.remove.run(requireKey(key));
  }

  async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
    if (this.detached) return [];
    const rows = keyPrefix.length === 0 ? this.stmts.loadAll.all() : this.stmts.loadRange.all(...rangeArgs(keyPrefix));
    return rows.map((r) => ({ key: decodeKey(r.key), data: toBytes(r.data) }));
  }

  async removeRange(keyPrefix: StorageKey): Promise<void> {
    if (this.detached) return;
    if (keyPrefix.length === 0) this.stmts.removeAll.run();
    else this.stmts.removeRange.run(...rangeArgs(keyPrefix));
  }
}

function rangeArgs(prefix: StorageKey): [string, string, string] {
  const p = encodeKey(prefix);
  return [p, p + SEP, p + AFTER_SEP];
}
