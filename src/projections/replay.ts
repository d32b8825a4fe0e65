// Rebuilds every projection from the log into a fresh database and compares checksums with
// the live one. Replay is also how a device builds its view of a peer's files.
import Database from 'better-sqlite3-multiple-ciphers';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { rowToEvent } from '../events/log.js';
import { ensurePrivateDir } from '../fsutil.js';
import type { Db } from '../library/library.js';
import { applySchema, checksums, project } from './index.js';

export interface ReplayReport {
  events: number;
  live: ReturnType<typeof checksums>;
  rebuilt: ReturnType<typeof checksums>;
  equal: boolean;
  differing: string[];
  ms: number;
}

/** Applies every event of `source` (in HLC order) to `target`'s projections. */
export function replayInto(source: Db, target: Db): number {
  applySchema(target);
  let n = 0;
  const rows = source
    .prepare('SELECT dev, seq, hash, type, bytes, sig FROM events ORDER BY hlc_ms, hlc_c, dev, seq')
    .iterate() as IterableIterator<Parameters<typeof rowToEvent>[0]>;
  let batch: ReturnType<typeof rowToEvent>[] = [];
  const flush = target.transaction(() => {
    for (const ev of batch) project(target, ev);
  });
  for (const row of rows) {
    batch.push(rowToEvent(row));
    n++;
    if (batch.length === 5000) {
      flush();
      batch = [];
    }
  }
  flush();
  return n;
}

export function replayCheck(live: Db, tmpDir: string, prepare: (fresh: Db) => void = () => undefined): ReplayReport {
  const t0 = performance.now();
  ensurePrivateDir(tmpDir);
  const path = join(tmpDir, `replay-${randomUUID()}.db`);
  const fresh = new Database(path);
  // An encrypted library's rebuilt projections are encrypted with the same key.
  prepare(fresh);
  fresh.pragma('journal_mode = OFF');
  fresh.pragma('synchronous = OFF');
  try {
    // One read transaction: the events and the live projections are the same snapshot.
    live.exec('BEGIN');
    let events: number;
    let liveSums: ReturnType<typeof checksums>;
    try {
      liveSums = checksums(live);
      events = replayInto(live, fresh);
    } finally {
      live.exec('COMMIT');
    }
    const rebuilt = checksums(fresh);
    const differing = Object.keys(liveSums.tables).filter((t) => liveSums.tables[t]!.sum !== rebuilt.tables[t]?.sum);
    return {
      events,
      live: liveSums,
      rebuilt,
      equal: liveSums.total === rebuilt.total,
      differing,
      ms: performance.now() - t0,
    };
  } finally {
    fresh.close();
    rmSync(path, { force: true });
  }
}
