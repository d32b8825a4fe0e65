import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../../src/core.js';
import { resolvePendingIntents } from '../../src/ops/entry/index.js';
import { assertConsistent, setup } from './helpers.js';

const child = fileURLToPath(new URL('../fixtures-child/entry-crash.js', import.meta.url));

/** Runs the child with SD_CRASH_AT; resolves with how it ended. Killed after 30 s in any case. */
function runChild(
  t: { teardown(fn: () => void): void },
  data: string,
  name: string,
  input: unknown,
  at: string,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, data, name, JSON.stringify(input)], {
      env: { ...process.env, SD_CRASH_AT: at, SD_MDNS: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b));
    p.stderr.on('data', (b: Buffer) => (out += b));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    t.teardown(() => {
      clearTimeout(timer);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

type Case = {
  cmd: string;
  input: (root: string) => unknown;
  done: (root: string) => boolean;
  untouched: (root: string) => boolean;
};
const cases: Record<string, Case> = {
  mv: {
    cmd: 'entry.mv',
    input: (r) => ({ sources: [join(r, 'a.txt'), join(r, 'tree')], dest: join(r, 'd') }),
    done: (r) =>
      !existsSync(join(r, 'a.txt')) && existsSync(join(r, 'd/a.txt')) && existsSync(join(r, 'd/tree/x/y.txt')),
    untouched: (r) =>
      existsSync(join(r, 'a.txt')) && existsSync(join(r, 'tree/x/y.txt')) && !existsSync(join(r, 'd/a.txt')),
  },
  cp: {
    cmd: 'entry.cp',
    input: (r) => ({ sources: [join(r, 'a.txt'), join(r, 'tree')], dest: join(r, 'd') }),
    done: (r) =>
      existsSync(join(r, 'a.txt')) && existsSync(join(r, 'd/a.txt')) && existsSync(join(r, 'd/tree/x/y.txt')),
    untouched: (r) => !existsSync(join(r, 'd/a.txt')) && !existsSync(join(r, 'd/tree')),
  },
  rm: {
    cmd: 'entry.rm',
    input: (r) => ({ paths: [join(r, 'a.txt'), join(r, 'tree')] }),
    done: (r) => !existsSync(join(r, 'a.txt')) && !existsSync(join(r, 'tree')),
    untouched: (r) => existsSync(join(r, 'a.txt')) && existsSync(join(r, 'tree/x/y.txt')),
  },
};

const points: [string, 'done' | 'untouched'][] = [
  ['after-intent', 'untouched'],
  ['mid-fs', 'done'],
  ['after-fs', 'done'],
  ['after-append', 'done'],
];

for (const [op, c] of Object.entries(cases)) {
  for (const [at, expect] of points) {
    test(`kill -9 ${at} of ${op}: the next start resolves the intent so disk, log and index agree`, async (t) => {
      const s = await setup(t, {
        'a.txt': 'aaa',
        'tree/x/y.txt': 'yy',
        'tree/z.txt': 'z'.repeat(150_000),
        'd/keep.txt': 'k',
      });
      await s.core.close();
      const r = await runChild(t, s.data, c.cmd, c.input(s.root), at);
      t.is(r.signal, 'SIGKILL', `the child died at ${at}: ${r.out}`);
      const core = await Core.open(s.data, { services: false });
      t.teardown(() => core.close());
      const lib = core.libraries.resolve();
      // Core.open resolved the pending intent before anything else could look at the disk.
      const resolved = core.recovered;
      t.is(resolved.length, at === 'after-append' ? 0 : 1);
      if (resolved[0]) t.is(resolved[0].outcome, expect === 'done' ? 'completed' : 'rolled-back');
      t.true(expect === 'done' ? c.done(s.root) : c.untouched(s.root), `disk is ${expect}`);
      t.deepEqual(await resolvePendingIntents(core, lib), [], 'idempotent');
      t.is((lib.db.prepare("SELECT COUNT(*) AS n FROM intents WHERE state = 'pending'").get() as { n: number }).n, 0);
      await assertConsistent(t, core, s);
    });
  }
}
