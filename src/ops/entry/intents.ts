// Intents: the disk cannot join a SQLite transaction, so a file operation first commits what it
// is about to do (state 'pending'), then touches the disk, then appends its events and marks
// the intent 'done' in one transaction. At startup every pending intent is resolved against
// the disk: one that changed nothing is rolled back (dropped), one that did is completed.
import { randomUUID } from 'node:crypto';
import { rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Core } from '../../core.js';
import type { Db, Library } from '../../library/library.js';
import { appendAggregates, appendStepEvents, syncPath } from './index-events.js';
import { lstat } from './paths.js';
import { finishStep, runStep, stepState, type Step } from './steps.js';

export function ensureTables(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS intents (id TEXT PRIMARY KEY, command TEXT NOT NULL, plan BLOB NOT NULL,
             state TEXT NOT NULL CHECK (state IN ('pending', 'done')), outcome TEXT, ran TEXT, verify TEXT,
             created_at INTEGER NOT NULL, done_at INTEGER);
           CREATE INDEX IF NOT EXISTS intents_pending ON intents (state) WHERE state = 'pending';
           CREATE TABLE IF NOT EXISTS trash (id TEXT PRIMARY KEY, batch TEXT NOT NULL, loc TEXT NOT NULL, orig TEXT NOT NULL,
             path TEXT NOT NULL, reason TEXT NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL, deleted_at INTEGER NOT NULL);`);
}

export type CrashPoint = 'after-intent' | 'mid-fs' | 'after-fs' | 'after-append';

/** Test seam: SD_CRASH_AT=<point> kills this process there (used only by crash tests' children). */
export function crashPoint(point: CrashPoint): void {
  if (process.env.SD_CRASH_AT !== point) return;
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered asynchronously: make sure nothing else runs meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

export interface Applied {
  intent: string;
  /** Indexes of the steps that ran. */
  ran: number[];
}

/** Appends the events of the steps that ran and closes the intent, in one transaction. */
function record(
  lib: Library,
  id: string,
  steps: Step[],
  ran: number[],
  outcome: string,
  reconcile = new Set<number>(),
): void {
  lib.write(() => {
    const touched = new Map<string, Set<string>>();
    for (const i of ran) {
      const s = steps[i]!;
      if (reconcile.has(i)) {
        // Neither end is where the plan expected it: index whatever is there now.
        if (s.fromLoc) syncPath(lib, s.fromLoc, s.fromKey!, s.from!);
        if (s.toLoc) syncPath(lib, s.toLoc, s.toKey!, s.to!);
      } else appendStepEvents(lib, s, touched);
      if (s.trash && lstat(s.to!)) {
        const m = s.manifest;
        lib.db
          .prepare(
            'INSERT OR REPLACE INTO trash (id, batch, loc, orig, path, reason, files, bytes, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(
            s.trash.id,
            id,
            s.trash.loc,
            s.trash.orig,
            s.to!,
            s.trash.reason,
            m?.files ?? 0,
            m?.bytes ?? 0,
            Date.now(),
          );
      }
      if (s.untrash && !lstat(s.from!)) lib.db.prepare('DELETE FROM trash WHERE id = ?').run(s.untrash);
    }
    appendAggregates(lib, touched);
    lib.db
      .prepare("UPDATE intents SET state = 'done', outcome = ?, ran = ?, done_at = ? WHERE id = ?")
      .run(outcome, JSON.stringify(ran), Date.now(), id);
  });
  for (const i of ran) {
    const s = steps[i]!;
    if (s.untrash && s.k === 'move') {
      try {
        rmdirSync(dirname(s.from!)); // the item's now empty trash folder
      } catch {
        // not empty or already gone: harmless
      }
    }
  }
  lib.flush(); // the events and 'intent done' are on disk before anything else happens
}

/** Commit: intent, then the disk, then the events; a failing step still records what ran. */
export async function applySteps(lib: Library, command: string, steps: Step[]): Promise<Applied> {
  ensureTables(lib.db);
  const id = randomUUID();
  // Other writes of this turn may hold a group transaction open: commit it, so the intent is
  // on disk (its own autocommit) before the disk is touched.
  lib.flush();
  lib.db
    .prepare("INSERT INTO intents (id, command, plan, state, created_at) VALUES (?, ?, ?, 'pending', ?)")
    .run(id, command, JSON.stringify({ steps }), Date.now());
  crashPoint('after-intent');
  const ran: number[] = [];
  try {
    for (let i = 0; i < steps.length; i++) {
      await runStep(steps[i]!);
      ran.push(i);
      if (i === 0 && steps.length > 1) crashPoint('mid-fs');
    }
  } catch (e) {
    record(lib, id, steps, ran, ran.length ? 'failed-partway' : 'failed');
    throw e;
  }
  crashPoint('after-fs');
  record(lib, id, steps, ran, 'completed');
  crashPoint('after-append');
  return { intent: id, ran };
}

export interface ResolvedIntent {
  id: string;
  command: string;
  outcome: 'rolled-back' | 'completed' | 'completed-partly';
  problems: string[];
}

/**
 * Resolves every pending intent of a library against the disk so that disk, log and
 * projection agree. Idempotent: a resolved intent is 'done' and is not looked at again.
 */
export async function resolvePendingIntents(core: Core, lib: Library): Promise<ResolvedIntent[]> {
  void core;
  ensureTables(lib.db);
  const rows = lib.db
    .prepare("SELECT id, command, plan FROM intents WHERE state = 'pending' ORDER BY created_at")
    .all() as { id: string; command: string; plan: string | Buffer }[];
  const out: ResolvedIntent[] = [];
  for (const row of rows) {
    const steps = (JSON.parse(String(row.plan)) as { steps: Step[] }).steps;
    const first = steps.length ? stepState(steps[0]!) : 'todo';
    if (first === 'todo') {
      // The crash came before the disk was touched: the command simply did not happen.
      lib.db
        .prepare("UPDATE intents SET state = 'done', outcome = 'rolled-back', ran = '[]', done_at = ? WHERE id = ?")
        .run(Date.now(), row.id);
      out.push({ id: row.id, command: row.command, outcome: 'rolled-back', problems: [] });
      continue;
    }
    const ran: number[] = [];
    const reconcile = new Set<number>();
    const problems: string[] = [];
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      const st = stepState(s);
      try {
        if (st === 'gone') reconcile.add(i);
        else await finishStep(s, st);
        ran.push(i);
      } catch (e) {
        problems.push(`${s.k} ${s.from ?? ''} -> ${s.to ?? ''}: ${(e as Error).message}`);
        reconcile.add(i);
        ran.push(i);
      }
    }
    const outcome = problems.length ? 'completed-partly' : 'completed';
    record(lib, row.id, steps, ran, outcome, reconcile);
    out.push({ id: row.id, command: row.command, outcome, problems });
  }
  return out;
}
