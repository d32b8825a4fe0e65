#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli.js, its modules, commander and msgpackr) into one file,
// dist/src/cli/bundle.js, which bin/sd.js loads. Node's ES module loader costs about a millisecond of
// CPU per module, and `sd status` loaded about 60: one file instead of them is most of the CLI's start.
// Only the CLI is bundled; the daemon runs from dist/src as compiled.
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
await build({
  entryPoints: [`${root}dist/src/cli.js`],
  outfile: `${root}dist/src/cli/bundle.js`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Loaded on demand by a few commands (`sd doctor`, `sd log rebuild`, progress bars): they stay out of
  // the bundle and resolve from dist/src/cli/, as the unbundled module would.
  external: ['../ops/*', 'cli-progress', 'pino-pretty'],
  // commander is CommonJS and requires Node's modules; an ES module bundle has no `require` of its own.
  banner: {
    js: "import { createRequire as __sdRequire } from 'node:module'; const require = __sdRequire(import.meta.url);",
  },
  // Minified, the file is half the size, and compiling it is most of what loading one file costs. The
  // source map beside it serves `node --enable-source-maps` when a trace must be read.
  minify: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});
