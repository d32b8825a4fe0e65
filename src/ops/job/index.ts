// sd job list / info / pause / resume / cancel.
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { JobStore, fromRaw, type JobRow } from '../../jobs/store.js';
import type { LiveJob } from '../../jobs/manager.js';
import { phaseRows } from '../../jobs/phase-times.js';
import { unpack } from '../../events/codec.js';
import { check, defineCommand, defineQuery, type CommandCtx } from '../define.js';
import type { Db } from '../../library/library.js';
import type { ReadDb } from '../host.js';

function findJob(db: ReadDb, ref: string): { id: string; state: string; kind: string } {
  const rows = db
    .prepare('SELECT id, state, kind FROM jobs WHERE id = ? OR id LIKE ? ORDER BY created_at DESC LIMIT 2')
    .all(ref, `${ref}%`) as { id: string; state: string; kind: string }[];
  if (ref.length < 4 || rows.length === 0)
    throw new SdError('E_JOB_NOT_FOUND', `no job "${ref}" (see \`sd job list\`)`);
  if (rows.length > 1 && rows[0]!.id !== ref)
    throw new SdError('E_AMBIGUOUS_JOB', `"${ref}" matches several jobs; use more of the id`);
  return rows[0]!;
}

/** A job's row, with what its actor says now when it has one (state, live progress). */
function withLive<T extends JobRow>(j: T, live: LiveJob | undefined): T & { stopping?: string } {
  if (!live) return j;
  // Live progress counts within the phase the store last checkpointed; a progress report of another
  // phase may be older than that checkpoint (reports are throttled, checkpoints are not): the store wins.
  const ahead = live.done !== undefined && live.phase === j.phase && live.done >= j.done;
  return {
    ...j,
    state: live.state,
    ...(live.stopping ? { stopping: live.stopping } : {}),
    ...(ahead ? { phase: live.phase!, done: live.done!, total: live.total ?? j.total } : {}),
  };
}

export const listJobs = defineQuery({
  name: 'job.list',
  summary: 'jobs of the library, newest first',
  input: z.object({ limit: z.number().int().positive().max(10_000).default(50), state: z.string().optional() }),
  run: ({ core, db }, { limit, state }) => {
    const live = core.jobs.live();
    const rows = db
      .prepare(
        `SELECT j.*, l.name AS locName FROM jobs j LEFT JOIN locations l ON l.id = j.loc ${state ? 'WHERE j.state = ?' : ''} ORDER BY j.created_at DESC LIMIT ?`,
      )
      .all(...(state ? [state, limit] : [limit])) as (Parameters<typeof fromRaw>[0] & { locName: string | null })[];
    return rows.map((r) => {
      const j = withLive(fromRaw(r), live.get(r.id));
      return {
        ...j,
        checkpoint: undefined,
        input: undefined,
        location: r.locName,
        rate: j.runMs > 0 ? Math.round((j.done / j.runMs) * 1000) : null,
      };
    });
  },
});

/**
 * job.info is polled (a progress bar, `sd job watch`), and a checkpoint can be large (a
 * transfer's listing and the hashes of its files): it is decoded once per version, not per poll.
 */
const decoded = new Map<string, { raw: Buffer; value: unknown }>();
function checkpointOf(id: string, raw: Buffer | null): unknown {
  if (!raw) return null;
  const hit = decoded.get(id);
  if (hit?.raw.equals(raw)) return hit.value;
  const value = unpack(raw);
  decoded.delete(id);
  decoded.set(id, { raw, value });
  // The few jobs being watched now; the oldest goes first.
  if (decoded.size > 8) decoded.delete(decoded.keys().next().value!);
  return value;
}

export const jobInfo = defineQuery({
  name: 'job.info',
  summary: 'one job with its phase, counts, rate and errors',
  input: z.object({ ref: z.string().min(1), errors: z.number().int().positive().max(100_000).default(100) }),
  run: ({ core, db }, { ref, errors }) => {
    const { id } = findJob(db, ref);
    const raw = db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Parameters<typeof fromRaw>[0];
    const r = withLive(
      { ...fromRaw({ ...raw, checkpoint: null }), checkpoint: checkpointOf(id, raw.checkpoint) },
      core.jobs.live().get(id),
    );
    const errs = db.prepare('SELECT path, code, message FROM job_errors WHERE job = ? LIMIT ?').all(id, errors) as {
      path: string;
      code: string;
      message: string;
    }[];
    return {
      ...r,
      checkpoint: r.checkpoint
        ? {
            phase: (r.checkpoint as { phase?: string }).phase,
            cursor: (r.checkpoint as { cursor?: string }).cursor?.split('\u0001').join('/'),
          }
        : null,
      rate: r.runMs > 0 ? Math.round((r.done / r.runMs) * 1000) : null,
      /** Time and items per phase (index jobs): where the time went. */
      phases: phaseRows((r.checkpoint as { times?: unknown } | null)?.times),
      errorList: errs,
    };
  },
});

function jobCommand(
  name: 'job.pause' | 'job.resume' | 'job.cancel',
  verb: string,
  act: (ctx: CommandCtx, id: string) => void,
  expect: string[],
) {
  return defineCommand({
    name,
    summary: `${verb} a job`,
    input: z.object({ ref: z.string().min(1) }),
    preview: ({ lib }, { ref }) => {
      const j = findJob(lib.db, ref);
      return {
        summary: `${verb} ${j.kind} job ${j.id.slice(0, 8)} (${j.state})`,
        changes: [{ op: 'update', target: `job ${j.id}`, detail: `${j.state} -> ${expect.join(' or ')}` }],
        data: { id: j.id },
      };
    },
    commit: async (ctx, plan) => {
      act(ctx, plan.data!.id);
      await ctx.core.jobs.settled(plan.data!.id);
      return { id: plan.data!.id };
    },
    verify: ({ lib }, plan) => {
      const s = new JobStore(lib.db).get(plan.data!.id)!.state;
      return [check(expect.includes(s), `job is ${expect.join(' or ')}`, s)];
    },
  });
}

export const pauseJob = jobCommand('job.pause', 'pause', ({ core, lib }, id) => core.jobs.pause(lib, id), [
  'paused',
  'completed',
]);
export const resumeJob = jobCommand('job.resume', 'resume', ({ core, lib }, id) => core.jobs.resume(lib, id), [
  'queued',
  'running',
  'completed',
]);
export const cancelJob = jobCommand('job.cancel', 'cancel', ({ core, lib }, id) => core.jobs.cancel(lib, id), [
  'cancelled',
  'completed',
]);
