// Shared test helpers: temp dirs that are always removed, and a small generated tree.
import { chmodSync, mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { generateTree, type TreeManifest, type TreeOptions } from '../../fixtures/tree.js';
import type { JobContext } from '../../src/jobs/context.js';
import { createHashPool } from '../../src/jobs/hash-pool.js';
import type { Library } from '../../src/library/library.js';

/** A fresh temp dir removed at teardown; `rm -rf` because Node's rm fails past PATH_MAX. */
export function tempDir(t: ExecutionContext, prefix = 'vdfs-jobs-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => {
    try {
      chmodSync(join(dir, 'tree', 'locked'), 0o755);
    } catch {
      /* no locked folder */
    }
    execFileSync('rm', ['-rf', dir]);
  });
  return dir;
}

export function smallTree(t: ExecutionContext, opts: Partial<TreeOptions> = {}): TreeManifest {
  const dir = tempDir(t);
  return generateTree(join(dir, 'tree'), { files: 600, folders: 40, seed: 11, sparseSize: 4 * 1024 * 1024, ...opts });
}

/**
 * The context of a job run by hand (a checkpoint made up to resume from), outside JobManager: one
 * hashing thread, closed at teardown, and each batch committed and flushed as JobManager commits
 * it; `kept` sees each checkpoint as committed.
 */
export function handJob(
  t: ExecutionContext,
  lib: Library,
  job: { id: string; checkpoint: unknown; resumes: number; input: unknown },
  kept?: (checkpoint: unknown) => void,
): JobContext {
  const pool = createHashPool({ threads: 1 });
  t.teardown(() => pool.close());
  return {
    lib,
    job,
    signal: new AbortController().signal,
    pool: () => pool,
    commit: (fn: () => void, _phase: string, checkpoint: unknown) => {
      kept?.(structuredClone(checkpoint));
      lib.write(fn);
      lib.flush();
    },
    progress: () => undefined,
    errors: () => undefined,
  } as unknown as JobContext;
}
