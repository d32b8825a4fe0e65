// Shared test helpers: temp data dirs that are removed after the test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Core } from '../src/core.js';

process.env.SD_MDNS = 'off';

export function tempDir(t: ExecutionContext, prefix = 'sd-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function openCore(t: ExecutionContext, dir = tempDir(t)): Promise<Core> {
  const core = await Core.open(dir);
  t.teardown(() => core.close());
  return core;
}
