#!/usr/bin/env node
// The same CLI as `sd`, under a name no other package uses (see the README: Installing).
import('../dist/src/cli.js')
  .then((m) => m.main(process.argv, 'vdfs'))
  .catch((err) => {
    process.stderr.write(`vdfs: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
