#!/usr/bin/env node
// The `sd` CLI: a thin RPC client. Compiled code lives in dist/ (built by `npm install`).
import('../dist/src/cli.js')
  .then((m) => m.main(process.argv))
  .catch((err) => {
    process.stderr.write(`sd: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
