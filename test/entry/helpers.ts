// Helpers for file-operation tests: a library with one indexed location, and a check that the
// disk, the index, the log and a replay all agree.
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Core } from '../../src/core.js';
import { contentIdOf } from '../../src/jobs/content-id.js';
import { walkSync } from '../../src/jobs/walk.js';
import { toPath } from '../../src/projections/entries.js';
import { openCore, tempDir } from '../helpers.js';

export function writeTree(root: string, files: Record<string, string>): void {
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), body);
  }
}

/** Waits (bounded) until no job of the library is queued or running. */
export async function idle(core: Core, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const jobs = await core.query<{ state: string }[]>('job.list', {});
    if (jobs.length && jobs.every((j) => j.state === 'completed')) return;
    if (jobs.some((j) => j.state === 'failed')) throw new Error(`a job failed: ${JSON.stringify(jobs)}`);
    if (Date.now() > until) throw new Error(`jobs still running after ${ms} ms: ${JSON.stringify(jobs)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function addLocation(core: Core, root: string): Promise<string> {
  const out = await core.command<{ id: string }>('location.add', { path: root, watch: false });
  await idle(core);
  return out.result!.id;
}

export interface Setup {
  core: Core;
  data: string;
  root: string;
  loc: string;
}

/** A core with one indexed location holding `files`. */
export async function setup(t: ExecutionContext, files: Record<string, string>, base?: string): Promise<Setup> {
  const data = tempDir(t, 'sd-data-');
  const root = realpathSync(base ? mkdtempIn(t, base) : tempDir(t, 'sd-loc-'));
  writeTree(root, files);
  const core = await openCore(t, data);
  const loc = await addLocation(core, root);
  return { core, data, root, loc };
}

function mkdtempIn(t: ExecutionContext, base: string): string {
  const dir = join(base, `sd-loc-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
  return dir;
}

/** [relPath, t, size, contentId] of what the location's index holds. */
export function indexOf(core: Core, loc: string): [string, number, number, string | null][] {
  const db = core.libraries.resolve().db;
  const rows = db.prepare('SELECT key, t, size, cid FROM entries WHERE loc = ? ORDER BY key').all(loc) as {
    key: string;
    t: number;
    size: number;
    cid: string | null;
  }[];
  return rows.map((r) => [toPath(r.key), r.t, r.t === 1 ? 0 : r.size, r.cid]);
}

/** The same, read from the disk with the indexer's default rules. */
export async function diskOf(root: string): Promise<[string, number, number, string | null][]> {
  const out: [string, number, number, string | null][] = [];
  for (const b of walkSync(root)) {
    for (const e of b.entries) {
      const t = e.isSymlink ? 2 : e.isDir ? 1 : 0;
      out.push([e.relPath, t, t === 1 ? 0 : e.size, t === 0 ? await contentIdOf(join(root, e.relPath)) : null]);
    }
  }
  return out.sort((a, b) => (a[0].split('/').join('\u0001') < b[0].split('/').join('\u0001') ? -1 : 1));
}

/** Disk = index (paths, sizes, content ids), the log verifies, and a replay gives the same projection. */
export async function assertConsistent(
  t: ExecutionContext,
  core: Core,
  s: { root: string; loc: string },
): Promise<void> {
  t.deepEqual(indexOf(core, s.loc), await diskOf(s.root), 'index matches the disk');
  const v = await core.query<{ ok: boolean }>('log.verify', {});
  t.true(v.ok, 'log verifies');
  const r = await core.query<{ equal: boolean; differing?: string[] }>('replay.check', {});
  t.true(r.equal, `replay equal (${JSON.stringify(r.differing)})`);
}
