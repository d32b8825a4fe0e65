#!/usr/bin/env node
// Compiles native/io-batch.c and native/walk-batch.c into dist/native/io-batch.so (src/jobs/io-batch.ts
// and walk-batch.ts load it through koffi), as the package builds. Optional: without a working C
// compiler, or off Linux, the threads read, list and lstat one by one instead (the same ids and
// entries, somewhat slower), the build goes on, and dist/native/io-batch.skipped says why
// (test/jobs/io-batch reads it).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = `${root}dist/native`;
const out = `${dir}/io-batch.so`;
const skipped = `${dir}/io-batch.skipped`;
/** One library: the batch read (io-batch.c) and the walk's listing and lstat (walk-batch.c). */
const SOURCES = ['io-batch.c', 'walk-batch.c'];
mkdirSync(dir, { recursive: true });
rmSync(skipped, { force: true });
const skip = (why) => {
  rmSync(out, { force: true });
  writeFileSync(skipped, `${why}\n`);
  console.warn(
    `vdfs: native/io-batch.c and walk-batch.c not built (${why}); index jobs read, list and lstat one by one instead.`,
  );
};
if (process.platform !== 'linux') skip(`not Linux (${process.platform})`);
else {
  // CC may carry arguments of its own (`ccache cc`).
  const [cc, ...ccArgs] = (process.env.CC || 'cc').trim().split(/\s+/);
  try {
    execFileSync(
      cc,
      [...ccArgs, '-O3', '-Wall', '-shared', '-fPIC', '-o', out, ...SOURCES.map((f) => `${root}native/${f}`)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  } catch (e) {
    const lines = String(e.stderr ?? '')
      .trim()
      .split('\n')
      .filter(Boolean);
    skip(
      e.code === 'ENOENT'
        ? `no C compiler (${cc})`
        : `${cc} failed: ${lines[0] ?? e.message}${lines.length > 1 ? ` (and ${lines.length - 1} more lines)` : ''}`,
    );
  }
}
