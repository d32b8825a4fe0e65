// Jobs persist in the library database beside the log (operational state, not replayed):
// their state, phase, a checkpoint (phase + cursor) and per-path errors.
import type { Db } from '../library/library.js';
import { pack, unpack } from '../events/codec.js';
import { stmt } from '../projections/types.js';

export type JobState = 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export const FINISHED: readonly JobState[] = ['completed', 'failed', 'cancelled'];

export const JOBS_SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, loc TEXT, state TEXT NOT NULL, phase TEXT, input BLOB NOT NULL,
  checkpoint BLOB, done INTEGER NOT NULL DEFAULT 0, total INTEGER, errors INTEGER NOT NULL DEFAULT 0,
  paused_by TEXT, message TEXT, created_at INTEGER NOT NULL, started_at INTEGER, updated_at INTEGER NOT NULL,
  finished_at INTEGER, run_ms INTEGER NOT NULL DEFAULT 0, resumes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS job_errors (job TEXT NOT NULL, path TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_errors_by_job ON job_errors (job);
`;

export interface JobRow {
  id: string;
  kind: string;
  loc: string | null;
  state: JobState;
  phase: string | null;
  input: unknown;
  checkpoint: unknown;
  done: number;
  total: number | null;
  errors: number;
  pausedBy: string | null;
  message: string | null;
  createdAt: number;
  startedAt: number | null;
  updatedAt: number;
  finishedAt: number | null;
  runMs: number;
  resumes: number;
}

interface RawRow {
  id: string;
  kind: string;
  loc: string | null;
  state: JobState;
  phase: string | null;
  input: Buffer;
  checkpoint: Buffer | null;
  done: number;
  total: number | null;
  errors: number;
  paused_by: string | null;
  message: string | null;
  created_at: number;
  started_at: number | null;
  updated_at: number;
  finished_at: number | null;
  run_ms: number;
  resumes: number;
}

export function fromRaw(r: RawRow): JobRow {
  return {
    id: r.id,
    kind: r.kind,
    loc: r.loc,
    state: r.state,
    phase: r.phase,
    input: unpack(r.input),
    checkpoint: r.checkpoint ? unpack(r.checkpoint) : null,
    done: r.done,
    total: r.total,
    errors: r.errors,
    pausedBy: r.paused_by,
    message: r.message,
    createdAt: r.created_at,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    runMs: r.run_ms,
    resumes: r.resumes,
  };
}

const stores = new WeakMap<Db, JobStore>();

/** The job store of a library's database (one per connection). */
export function jobStore(lib: { db: Db }): JobStore {
  let s = stores.get(lib.db);
  if (!s) stores.set(lib.db, (s = new JobStore(lib.db)));
  return s;
}

export class JobStore {
  constructor(private readonly db: Db) {
    db.exec(JOBS_SCHEMA);
  }

  /**
   * The job actor's state, written on every transition: inserts the row the first time (a job's
   * first state), then updates its state, pause cause and message; the start and finish times
   * are set once.
   */
  save(
    job: { id: string; kind: string; loc: string | null; input: unknown },
    state: JobState,
    extra: { message?: string | null; pausedBy?: string | null } = {},
  ): void {
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO jobs (id, kind, loc, state, input, paused_by, message, created_at, updated_at, started_at, finished_at)
         VALUES (@id, @kind, @loc, @state, @input, @pausedBy, @message, @now, @now,
                 CASE WHEN @state = 'running' THEN @now END, CASE WHEN @final THEN @now END)
         ON CONFLICT (id) DO UPDATE SET state = @state, updated_at = @now, paused_by = @pausedBy, message = @message,
           started_at = CASE WHEN @state = 'running' AND started_at IS NULL THEN @now ELSE started_at END,
           finished_at = CASE WHEN @final THEN @now ELSE finished_at END`,
      )
      .run({
        id: job.id,
        kind: job.kind,
        loc: job.loc,
        state,
        input: pack(job.input),
        pausedBy: extra.pausedBy ?? null,
        message: extra.message ?? null,
        now,
        final: FINISHED.includes(state) ? 1 : 0,
      });
  }

  get(id: string): JobRow | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as RawRow | undefined;
    return r ? fromRaw(r) : undefined;
  }

  byState(...states: JobState[]): JobRow[] {
    return (
      this.db
        .prepare(`SELECT * FROM jobs WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY created_at`)
        .all(...states) as RawRow[]
    ).map(fromRaw);
  }

  /** Called inside the transaction that appends the events covered by this checkpoint. */
  checkpoint(id: string, phase: string, checkpoint: unknown, done: number, total: number | null, runMs: number): void {
    // Prepared once per connection: written with every batch (a prepare each was 0.1 ms per batch).
    stmt(
      this.db,
      'UPDATE jobs SET phase = ?, checkpoint = ?, done = ?, total = ?, run_ms = ?, updated_at = ? WHERE id = ?',
    ).run(phase, pack(checkpoint), done, total, Math.round(runMs), Date.now(), id);
  }

  addErrors(id: string, errors: { path: string; code: string; message: string }[]): void {
    if (errors.length === 0) return;
    const ins = this.db.prepare('INSERT INTO job_errors (job, path, code, message) VALUES (?, ?, ?, ?)');
    for (const e of errors) ins.run(id, e.path, e.code, e.message);
    this.db.prepare('UPDATE jobs SET errors = errors + ? WHERE id = ?').run(errors.length, id);
  }

  errorsOf(id: string, limit = 1000): { path: string; code: string; message: string }[] {
    return this.db.prepare('SELECT path, code, message FROM job_errors WHERE job = ? LIMIT ?').all(id, limit) as {
      path: string;
      code: string;
      message: string;
    }[];
  }

  markResumed(id: string): void {
    this.db.prepare('UPDATE jobs SET resumes = resumes + 1 WHERE id = ?').run(id);
  }
}
