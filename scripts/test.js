#!/usr/bin/env node
// Runs ava (our suite) and vitest (automerge-repo's adapter acceptance suites) and prints the
// totals counted from the runners' own machine-readable output: `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';

process.env.SD_MDNS = 'off';
const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let status = 0;

// ava: TAP output carries "# pass N" / "# fail N" lines we can count from.
const ava = spawnSync('npx', ['ava', '--tap', ...process.argv.slice(2)], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
process.stdout.write(ava.stdout);
process.stderr.write(ava.stderr);
const pass = /^# pass (\d+)$/m.exec(ava.stdout);
const fail = /^# fail (\d+)$/m.exec(ava.stdout);
passed += pass ? Number(pass[1]) : 0;
failed += fail ? Number(fail[1]) : 0;
if (ava.status !== 0) status = 1;
if (!pass) { failed += 1; status = 1; process.stdout.write('ava produced no summary: counted as a failure\n'); }

// vitest: only the automerge-repo acceptance suites (and friends) live under test/vitest.
const report = join(root, 'dist', 'vitest-report.json');
if (existsSync(report)) rmSync(report);
const vt = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'inherit', 'inherit'] });
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  if (r.numTotalTests === 0) { failed += 1; process.stdout.write('vitest ran no test: counted as a failure\n'); }
} else {
  failed += 1;
  process.stdout.write('vitest produced no report: counted as a failure\n');
}
if (vt.status !== 0) status = 1;

process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : status);
