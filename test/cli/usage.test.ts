// Usage errors and bad option values exit 2 (JSON under --json); every --help lists the global
// flags; the binary says whose `sd` it is and also answers to `vdfs`.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.js';
import { baseEnv, sd, VDFS } from './helpers.js';

test('usage errors and bad option values exit 2, also before any daemon runs; --json prints them as {error}', (t) => {
  const dir = tempDir(t);
  for (const args of [
    ['frobnicate'],
    ['ls', '--bogus'],
    ['tag', 'apply'],
    ['mv', 'only-one'],
    ['search', 'x', '--limit', 'many'],
    ['search', 'x', '--limit', '20000'],
    ['search', 'x', '--page', '0'],
    ['search', 'x', '--min-size', 'big'],
    ['location', 'add', ''],
    ['start', '--p2p-port', '-1'],
    ['config', 'set', 'webrtc', 'sometimes'],
  ]) {
    const r = sd(dir, args);
    t.is(r.code, 2, `sd ${args.join(' ')}: ${r.err}`);
    t.notRegex(r.err, /at .*\.js:\d+/);
    const j = sd(dir, ['--json', ...args]);
    t.is(j.code, 2, `sd --json ${args.join(' ')}`);
    const e = (JSON.parse(j.out) as { error: { code: string; message: string } }).error;
    t.regex(e.code, /^E_(USAGE|BAD_INPUT)$/, `sd --json ${args.join(' ')}`);
    t.true(e.message.length > 0);
    t.is(j.err, '', 'nothing on stderr under --json');
  }
  // Not a usage error: no daemon (3), and a plain error (1).
  t.is(sd(dir, ['ls']).code, 3);
  t.is(sd(dir, ['config', 'unset', 'mdns']).code, 1);
});

test("every subcommand's --help shows the global flags", (t) => {
  const dir = tempDir(t);
  for (const args of [
    ['tag', 'apply', '--help'],
    ['search', '--help'],
    ['daemon', 'install', '--help'],
    ['config', 'set', '--help'],
    ['start', '--help'],
  ]) {
    const r = sd(dir, args);
    t.is(r.code, 0, r.err);
    for (const flag of ['--data-dir', '--library', '--json', '--dry-run', '--yes'])
      t.true(r.out.includes(flag), `sd ${args.join(' ')} lists ${flag}`);
  }
  t.regex(sd(dir, ['start', '--help']).out, /--p2p-port.*\n(.|\n)*--no-mdns(.|\n)*--device-name/);
});

test('--version says it is the sd of vdfs; `vdfs` is the same CLI under a name no other package uses', (t) => {
  const dir = tempDir(t);
  const v = sd(dir, ['--version']);
  t.is(v.code, 0);
  t.regex(v.out, /^vdfs \d+\.\d+\.\d+ \(the sd command of vdfs\)$/m);
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as {
    bin: Record<string, string>;
  };
  t.deepEqual(Object.keys(pkg.bin).sort(), ['sd', 'vdfs']);
  const alias = spawnSync(process.execPath, [VDFS, '--data-dir', dir, 'status'], { encoding: 'utf8', env: baseEnv() });
  t.is(alias.status, 3);
  t.regex(alias.stdout, /not running/);
  const bad = spawnSync(process.execPath, [VDFS, '--data-dir', dir, 'ls'], { encoding: 'utf8', env: baseEnv() });
  t.regex(bad.stderr, /^vdfs: /);
  const help = spawnSync(process.execPath, [VDFS, '--help'], { encoding: 'utf8', env: baseEnv() });
  t.regex(help.stdout, /^Usage: vdfs /);
});
