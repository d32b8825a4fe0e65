#!/usr/bin/env node
// Compiles native/io-batch.c into dist/native/io-batch.so (src/jobs/io-batch.ts loads it through
// koffi), as the package builds. Optional: without a C compiler, or off Linux, the hashing threads
// read file by file instead (the same ids, somewhat slower), and the build goes on.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const out = `${root}dist/native/io-batch.so`;
if (process.platform !== 'linux') process.exit(0);
mkdirSync(`${root}dist/native`, { recursive: true });
try {
  execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-shared', '-fPIC', '-o', out, `${root}native/io-batch.c`], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
} catch (e) {
  rmSync(out, { force: true });
  const why = e.code === 'ENOENT' ? 'no C compiler (cc)' : String(e.stderr || e.message).trim();
  console.warn(`vdfs: native/io-batch.c not built (${why}); index jobs read file by file instead.`);
}
