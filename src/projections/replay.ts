// Rebuilds every projection from the log into a fresh database and compares checksums with the
// live one; also rebuilds the live projections in place (`sd replay --rebuild`).
import Database from 'better-sqlite3-multiple-ciphers';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../fsutil.js';
import type { Db } from '../library/library.js';
import { applySchema, checksums, projectAll, type Mangled } from './index.js';
import { searchIndexCheck } from './search-index.js';
import { PlainDocs } from '../shared/provider.js';

export interface ReplayReport {
  events: number;
  live: ReturnType<typeof checksums>;
  rebuilt: ReturnType<typeof checksums>;
  equal: boolean;
  differing: string[];
  /** Stored events that do not decode (the log is damaged there: see `sd log verify`). */
  mangled: Mangled[];
  /** The name index agrees with the entries (no planted or missing rows). */
  searchIndex: { ok: boolean; detail: string };
  ms: number;
}

/** Applies every event of `source` to `target`'s projections. */
export function replayInto(source: Db, target: Db, lib: string, mangled: Mangled[] = []): number {
  applySchema(target);
  let n = 0;
  // A replay's shared documents are plain ones, built from the change bytes it projects.
  const ctx = { db: target, shared: new PlainDocs() };
  target.transaction(() => (n = projectAll(source, ctx, lib, undefined, mangled)))();
  return n;
}

export interface ReplayCheckOptions {
  /** A read connection: events and live projections are read in one snapshot. */
  live: Db;
  /** The writing connection, for the name-index check (FTS5 runs it as a write). */
  writer: Db;
  lib: string;
  tmpDir: string;
  /** Keys the scratch database like the library (encrypted libraries). */
  prepare?: (fresh: Db) => void;
  /** Index pending names before the name-index check (the daemon does; doctor only reads). */
  catchUp?: boolean;
}

export function replayCheck({
  live,
  writer,
  lib,
  tmpDir,
  prepare = () => undefined,
  catchUp = true,
}: ReplayCheckOptions): ReplayReport {
  const t0 = performance.now();
  ensurePrivateDir(tmpDir);
  const path = join(tmpDir, `replay-${randomUUID()}.db`);
  const fresh = new Database(path);
  // An encrypted library's rebuilt projections are encrypted with the same key.
  prepare(fresh);
  fresh.pragma('journal_mode = OFF');
  fresh.pragma('synchronous = OFF');
  const mangled: Mangled[] = [];
  try {
    const searchIndex = searchIndexCheck(writer, catchUp);
    // One read transaction: the events and the live projections are the same snapshot.
    live.exec('BEGIN');
    let events: number;
    let liveSums: ReturnType<typeof checksums>;
    try {
      liveSums = checksums(live);
      events = replayInto(live, fresh, lib, mangled);
    } finally {
      live.exec('COMMIT');
    }
    const rebuilt = checksums(fresh);
    const differing = Object.keys(liveSums.tables).filter((t) => liveSums.tables[t]!.sum !== rebuilt.tables[t]?.sum);
    if (!searchIndex.ok) differing.push('search index');
    return {
      events,
      live: liveSums,
      rebuilt,
      equal: liveSums.total === rebuilt.total && searchIndex.ok && mangled.length === 0,
      differing,
      mangled,
      searchIndex,
      ms: performance.now() - t0,
    };
  } finally {
    fresh.close();
    rmSync(path, { force: true });
  }
}
