// Helpers shared by the indexer, jobs, crash and watcher tests: bounded waits, the index as a
// list of rows, and an independent reference of what the walker should see on disk.
import { lstatSync, readdirSync } from 'node:fs';
import type { Core } from '../../src/core.js';
import { rowToEvent } from '../../src/events/log.js';
import { DEFAULT_SKIP_NAMES } from '../../src/jobs/walk.js';
import { encodeName } from '../../src/jobs/names.js';

export const FINAL = ['completed', 'failed', 'cancelled'];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; throws with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface JobInfo {
  id: string;
  state: string;
  phase: string | null;
  done: number;
  total: number | null;
  errors: number;
  resumes: number;
  errorList: { path: string; code: string; message: string }[];
  checkpoint: { phase?: string; cursor?: string } | null;
}

/** Waits for a job to reach one of `states` (default: any final state) and returns its info. */
export async function waitJob(core: Core, id: string, states: string[] = FINAL, timeoutMs = 30_000): Promise<JobInfo> {
  return waitFor(
    `job ${id.slice(0, 8)} to be ${states.join('/')}`,
    async () => {
      const j = await core.query<JobInfo>('job.info', { ref: id, errors: 10_000 });
      return states.includes(j.state) ? j : undefined;
    },
    timeoutMs,
  );
}

/** Adds a location and waits for its first index job to complete. */
export async function addAndIndex(
  core: Core,
  path: string,
  extra: Record<string, unknown> = {},
  timeoutMs = 30_000,
): Promise<{ id: string; job: JobInfo }> {
  const out = await core.command<{ id: string; job: string }>('location.add', { path, watch: false, ...extra });
  const job = await waitJob(core, out.result!.job, FINAL, timeoutMs);
  if (job.state !== 'completed') throw new Error(`index job ended ${job.state}`);
  return { id: out.result!.id, job };
}

export interface Row {
  key: string;
  t: number;
  size: number;
  cid: string | null;
  dsize: number | null;
  dfiles: number | null;
}

/** The entries of the (only) library as rows, '/'-separated paths, in key order. */
export function indexRows(core: Core, loc?: string): Row[] {
  const db = core.libraries.resolve().ro;
  const rows = (
    loc
      ? db.prepare('SELECT key, t, size, cid, dsize, dfiles FROM entries WHERE loc = ? ORDER BY key').all(loc)
      : db.prepare('SELECT key, t, size, cid, dsize, dfiles FROM entries ORDER BY loc, key').all()
  ) as Row[];
  return rows.map((r) => ({ ...r, key: r.key.split('\u0001').join('/') }));
}

/** Event bodies of one type in the log (decoded), oldest first. */
export function eventBodies<T>(core: Core, type: string): T[] {
  const db = core.libraries.resolve().ro;
  const rows = db
    .prepare('SELECT dev, seq, hash, type, bytes, sig FROM events WHERE type = ? ORDER BY hlc_ms, hlc_c')
    .all(type) as Parameters<typeof rowToEvent>[0][];
  return rows.map((r) => rowToEvent(r).body as T);
}

export interface RefEntry {
  rel: string;
  raw: Buffer;
  isDir: boolean;
  isSymlink: boolean;
  size: number;
  unreadable: boolean;
}

/**
 * What the walker should see with default rules, found independently: readdir(buffer) + lstat,
 * hidden names and DEFAULT_SKIP_NAMES skipped, symlinks never followed.
 */
export function referenceTree(root: string): Map<string, RefEntry> {
  const out = new Map<string, RefEntry>();
  const skip = new Set(DEFAULT_SKIP_NAMES);
  const visit = (dir: Buffer, rel: string): void => {
    for (const raw of readdirSync(dir, { encoding: 'buffer' })) {
      const name = encodeName(raw);
      if (skip.has(name) || raw[0] === 0x2e) continue;
      const p = Buffer.concat([dir, Buffer.from('/'), raw]);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      const e: RefEntry = {
        rel: r,
        raw: p,
        isDir: st.isDirectory(),
        isSymlink: st.isSymbolicLink(),
        size: st.isDirectory() ? 0 : st.size,
        unreadable: false,
      };
      out.set(r, e);
      if (e.isDir) {
        try {
          visit(p, r);
        } catch {
          e.unreadable = true;
        }
      }
    }
  };
  visit(Buffer.from(root), '');
  return out;
}

/** Reads a line-oriented stream and calls fn for each complete line. */
export function onLines(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      fn(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}
