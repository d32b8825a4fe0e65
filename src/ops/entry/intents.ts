// Intents: the disk cannot join a SQLite transaction, so a file operation first commits what it
// is about to do (state 'pending'), then touches the disk, then appends its events and marks
// the intent 'done' in one transaction. At startup every pending intent is resolved against
// the disk: one that changed nothing is rolled back (dropped), one that did is completed.
import { randomUUID } from 'node:crypto';
import { existsSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpHost } from '../host.js';
import type { Library } from '../../library/library.js';
import { migrateTrashTable, trashAdded, trashRemoved } from './trash-log.js';
import { withParent } from './confine.js';
import { appendAggregates, appendStepEvents, syncPath } from './index-events.js';
import { finishStep, runStep, stepState, type Step } from './steps.js';

/**
 * Test seam: with SD_TEST_PAUSE_DIR and SD_TEST_PAUSE_AT (a comma-separated list of points:
 * `commit` = after the preview, before the first step; `step-N` = after step N, before the next),
 * the daemon writes <dir>/<point> and waits (60 s at most) until the test removes it. Only tests
 * set these; the deterministic race tests swap a symlink in while a command waits here.
 */
export async function testPause(point: string): Promise<void> {
  const dir = process.env.SD_TEST_PAUSE_DIR;
  if (!dir || !(process.env.SD_TEST_PAUSE_AT ?? '').split(',').includes(point)) return;
  const marker = join(dir, point);
  writeFileSync(marker, String(process.pid));
  const until = Date.now() + 60_000;
  while (existsSync(marker) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
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

/** Whether the path is there now, looked at without following a link; false when unreachable. */
function there(root: string | undefined, abs: string | undefined): boolean {
  if (!root || !abs) return false;
  try {
    return withParent(root, abs, (d, n) => !!d.lstat(n));
  } catch {
    return false;
  }
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
    migrateTrashTable(lib);
    const touched = new Map<string, Set<string>>();
    const added = new Map<string, Step[]>();
    const removed = new Map<string, string[]>();
    for (const i of ran) {
      const s = steps[i]!;
      if (reconcile.has(i)) {
        // Neither end is where the plan expected it: index whatever is there now.
        if (s.fromLoc) syncPath(lib, s.fromLoc, s.fromKey!, s.from!);
        if (s.toLoc) syncPath(lib, s.toLoc, s.toKey!, s.to!);
      } else appendStepEvents(lib, s, touched);
      if (s.trash && there(s.toRoot, s.to))
        (added.get(s.trash.loc) ?? added.set(s.trash.loc, []).get(s.trash.loc)!).push(s);
      if (s.untrash && !there(s.fromRoot, s.from))
        (removed.get(s.untrash.loc) ?? removed.set(s.untrash.loc, []).get(s.untrash.loc)!).push(s.untrash.id);
    }
    for (const [loc, list] of added) trashAdded(lib, loc, id, list);
    for (const [loc, ids] of removed) trashRemoved(lib, loc, ids);
    appendAggregates(lib, touched);
    lib.db
      .prepare("UPDATE intents SET state = 'done', outcome = ?, ran = ?, done_at = ? WHERE id = ?")
      .run(outcome, JSON.stringify(ran), Date.now(), id);
  });
  for (const i of ran) {
    const s = steps[i]!;
    // The item's now empty folder in the trash goes too (never through a link: held parent).
    if (s.untrash && s.k === 'move') removeEmptyTrashFolder(s.fromRoot!, s.from!);
  }
  lib.flush(); // the events and 'intent done' are on disk before anything else happens
}

function removeEmptyTrashFolder(root: string, item: string): void {
  try {
    const folder = item.slice(0, item.lastIndexOf('/'));
    withParent(root, folder, (d, n) => rmdirSync(d.at(n)));
  } catch {
    // not empty or already gone: harmless
  }
}

/**
 * An overwritten destination was set aside into the trash, then the new item failed to arrive
 * (a full disk, say): the old one goes back into place, and the trash keeps no record of it.
 */
async function putBack(steps: Step[], ran: number[], failed: number): Promise<void> {
  const prev = ran[ran.length - 1];
  if (prev === undefined || prev !== failed - 1) return;
  const aside = steps[prev]!;
  if (aside.trash?.reason !== 'overwritten' || aside.from !== steps[failed]!.to) return;
  await runStep({ k: 'move', from: aside.to, to: aside.from, fromRoot: aside.toRoot, toRoot: aside.fromRoot });
  removeEmptyTrashFolder(aside.toRoot!, aside.to!);
  ran.pop();
}

/** Commit: intent, then the disk, then the events; a failing step still records what ran. */
export async function applySteps(lib: Library, command: string, steps: Step[]): Promise<Applied> {
  const id = randomUUID();
  // Other writes of this turn may hold a group transaction open: commit it, so the intent is
  // on disk (its own autocommit) before the disk is touched.
  lib.flush();
  await testPause('commit');
  lib.db
    .prepare("INSERT INTO intents (id, command, plan, state, created_at) VALUES (?, ?, ?, 'pending', ?)")
    .run(id, command, JSON.stringify({ steps }), Date.now());
  crashPoint('after-intent');
  const ran: number[] = [];
  try {
    for (let i = 0; i < steps.length; i++) {
      if (i > 0) await testPause(`step-${i - 1}`);
      try {
        await runStep(steps[i]!);
      } catch (e) {
        await putBack(steps, ran, i).catch(() => undefined);
        throw e;
      }
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
export async function resolvePendingIntents(core: OpHost, lib: Library): Promise<ResolvedIntent[]> {
  void core;
  const rows = lib.db
    .prepare("SELECT id, command, plan FROM intents WHERE state = 'pending' ORDER BY created_at")
    .all() as { id: string; command: string; plan: string | Buffer }[];
  const out: ResolvedIntent[] = [];
  for (const row of rows) {
    const steps = (JSON.parse(String(row.plan)) as { steps: Step[] }).steps;
    const first = steps.length ? await stepState(steps[0]!) : 'todo';
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
      const st = await stepState(s);
      try {
        if (st === 'gone') reconcile.add(i);
        else if (st === 'unsafe')
          throw new Error(`E_PATH_CHANGED: a folder on its way is a symlink or not a folder now; nothing was done`);
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
