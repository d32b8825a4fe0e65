#!/usr/bin/env node
// Checks the layout (Prettier), then runs ava (our suite) and vitest (automerge-repo's adapter
// acceptance suite), streaming their output as it comes, and prints the totals counted from the
// runners' own machine-readable output: `N passed, N failed`.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';

process.env.SD_MDNS = 'off';
const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let status = 0;

// The formatter decides the layout; a file it would change is a failure, named in its output.
const fmt = spawnSync('npx', ['prettier', '--check', '--log-level', 'warn', '.'], { cwd: root, stdio: 'inherit' });
if (fmt.status !== 0) {
  failed += 1;
  status = 1;
  process.stdout.write('prettier --check: files above need `npx prettier --write .` (counted as one failure)\n');
}

/** Runs a command, passing its output through as it arrives, and returns what it printed. */
function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ out, code }));
  });
}

// ava: TAP output carries "# pass N" / "# fail N" lines we can count from.
const ava = await run('npx', ['ava', '--tap', ...process.argv.slice(2)]);
const pass = /^# pass (\d+)$/m.exec(ava.out);
const fail = /^# fail (\d+)$/m.exec(ava.out);
passed += pass ? Number(pass[1]) : 0;
failed += fail ? Number(fail[1]) : 0;
if (ava.code !== 0) status = 1;
if (!pass) {
  failed += 1;
  status = 1;
  process.stdout.write('ava produced no summary: counted as a failure\n');
}

// vitest: only the automerge-repo acceptance suites (and friends) live under test/vitest.
const report = join(root, 'dist', 'vitest-report.json');
if (existsSync(report)) rmSync(report);
const vt = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
  cwd: root,
  encoding: 'utf8',
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  if (r.numTotalTests === 0) {
    failed += 1;
    process.stdout.write('vitest ran no test: counted as a failure\n');
  }
} else {
  failed += 1;
  process.stdout.write('vitest produced no report: counted as a failure\n');
}
if (vt.status !== 0) status = 1;

process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : status);
