// Loads the CLI for bin/sd.js and bin/vdfs.js: the one-file bundle the build writes
// (scripts/bundle-cli.js), or the compiled modules when the bundle is missing or older than them (a
// `tsc` run without the bundling step), so a CLI never runs stale code.
import { statSync } from 'node:fs';

const dist = new URL('../dist/src/', import.meta.url);

function entry() {
  try {
    const bundle = statSync(new URL('cli/bundle.js', dist)).mtimeMs;
    if (bundle >= statSync(new URL('cli.js', dist)).mtimeMs) return new URL('cli/bundle.js', dist);
  } catch {
    // no bundle: the compiled modules below
  }
  return new URL('cli.js', dist);
}

export function runCli(name) {
  import(entry().href)
    .then((m) => m.main(process.argv, name))
    .catch((err) => {
      process.stderr.write(`${name}: ${err && err.message ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
