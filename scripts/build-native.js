#!/usr/bin/env node
// Compiles native/io-batch.c (with the batch BLAKE3 of native/blake3-lanes.h and blake3-kernels.h)
// and native/walk-batch.c into dist/native/io-batch.so (src/jobs/io-batch.ts
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
/** Beside the library when it was built without the hashing kernels (test/jobs/io-batch reads it). */
const noKernels = `${dir}/blake3-kernels.skipped`;
/** One library: the batch read (io-batch.c) and the walk's listing and lstat (walk-batch.c). */
const SOURCES = ['io-batch.c', 'walk-batch.c'];
mkdirSync(dir, { recursive: true });
rmSync(skipped, { force: true });
rmSync(noKernels, { force: true });
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
  const build = (extra) =>
    execFileSync(
      cc,
      [...ccArgs, '-O3', '-Wall', ...extra, '-shared', '-fPIC', '-o', out, ...SOURCES.map((f) => `${root}native/${f}`)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  try {
    try {
      build([]);
    } catch (first) {
      if (first.code === 'ENOENT') throw first;
      // A compiler that cannot build the AVX2 and AVX-512 kernels (native/blake3-kernels.h) still
      // builds the rest: the batch reads and the walk's calls, with the hashing in JavaScript.
      build(['-DVD_B3_OFF']);
      const why = String(first.stderr ?? first.message)
        .trim()
        .split('\n')[0];
      writeFileSync(noKernels, `${cc} failed on them: ${why}\n`);
      console.warn(`vdfs: native/blake3-kernels.h not built with ${cc} (${why}); index jobs hash in JavaScript.`);
    }
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
