// What only a terminal shows, in a pseudo-terminal (`script`): `sd ... | head` ends quietly,
// Ctrl-C stops `sd start --foreground` cleanly, and the progress bar never shows a bogus ETA.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { etaText } from '../../src/cli/progress.js';
import { tempDir } from '../helpers.js';
import { baseEnv, inPty, sd, sdLine, startDaemon, until } from './helpers.js';

function tree(root: string, n: number): void {
  for (let d = 0; d < n / 500; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let i = 0; i < 500; i++) writeFileSync(join(root, `d${d}`, `file-${i}.txt`), `${d}:${i}`);
  }
}

test('`sd ls | head -1` and `sd log | head -1` end quietly with exit 0, in a terminal and through pipes', async (t) => {
  const dir = tempDir(t);
  const files = tempDir(t);
  tree(files, 3000); // 3,000 lines: far more than a pipe holds, so the write meets a closed pipe
  startDaemon(t, dir);
  t.is(sd(dir, ['location', 'add', files, '--wait']).code, 0);
  for (let i = 0; i < 5; i++) t.is(sd(dir, ['tag', 'create', `t${i}`]).code, 0);
  for (const args of [
    ['ls', join(files, 'd0')],
    ['log', '--limit', '5000'],
    ['search', 'file', '--limit', '3000'],
  ]) {
    const line = `${sdLine(dir, args)} | head -1; echo "status=\${PIPESTATUS[0]}"`;
    const r = await inPty(t, line, { SHELL: '/bin/bash' }).exited;
    t.regex(r.output, /status=0/, r.output);
    t.notRegex(r.output, /EPIPE|Error|at .*\.js:\d+/, r.output);
    t.is(r.output.trim().split(/\r?\n/).length, 2, r.output);
    // The same through plain pipes (no terminal at all).
    const p = spawnSync('bash', ['-c', line], { encoding: 'utf8', env: baseEnv() });
    t.regex(p.stdout, /status=0/);
    t.is(p.stderr, '');
  }
});

test('Ctrl-C stops `sd start --foreground` like `sd stop`: its log on the terminal, exit 0, pid file and socket removed', async (t) => {
  const dir = tempDir(t);
  const pty = inPty(t, sdLine(dir, ['start', '--foreground']));
  await until('the daemon to start', () => pty.output().includes('daemon started'), 30_000);
  t.true(existsSync(join(dir, 'sd.pid')));
  t.true(existsSync(join(dir, 'sd.sock')));
  t.is(sd(dir, ['status']).code, 0);
  // The terminal sends SIGINT to the CLI and the daemon; a second Ctrl-C follows impatiently.
  pty.write('\u0003');
  await new Promise((r) => setTimeout(r, 100));
  pty.write('\u0003');
  const r = await pty.exited;
  t.is(r.code, 0, r.output);
  t.regex(r.output, /daemon stopping/);
  t.regex(r.output, /daemon stopped/);
  t.notRegex(r.output, /Error|at .*\.js:\d+/);
  t.false(existsSync(join(dir, 'sd.pid')));
  t.false(existsSync(join(dir, 'sd.sock')));
  t.regex(readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8'), /"why":"SIGINT".*\n.*daemon stopped/);
  t.is(sd(dir, ['status']).code, 3);
  // It starts again without any recovery: nothing was left behind.
  const again = inPty(t, sdLine(dir, ['start', '--foreground']));
  await until('the second start', () => again.output().includes('daemon started'), 30_000);
  t.notRegex(again.output(), /stale/);
  again.write('\u0003');
  t.is((await again.exited).code, 0);
});

test('the progress bar of --wait never shows "ETA NFs" or "ETA LLs"', async (t) => {
  const dir = tempDir(t);
  const files = tempDir(t);
  tree(files, 6000);
  startDaemon(t, dir);
  const r = await inPty(t, sdLine(dir, ['location', 'add', files, '--wait'])).exited;
  t.is(r.code, 0, r.output);
  t.regex(r.output, /files/); // the bar was drawn
  t.regex(r.output, /✓ indexed 6000 files/);
  t.notRegex(r.output, /NFs|LLs|NULL|INF|NaN|Infinity/, r.output);
});

test('the ETA appears only once it means something', (t) => {
  const start = 1_000_000;
  const p = { value: 500, total: 1000, progress: 0.5, eta: 10, startTime: start };
  const known = { phase: 'identify', rate: 100, totalKnown: true };
  t.is(etaText(p, known, start + 5000), '  ETA 10s');
  t.is(etaText({ ...p, eta: 'INF' }, known, start + 5000), '');
  t.is(etaText({ ...p, eta: 'NULL' }, known, start + 5000), '');
  t.is(etaText({ ...p, eta: Number.POSITIVE_INFINITY }, known, start + 5000), '');
  t.is(etaText(p, known, start + 500), '', 'too early to tell');
  t.is(etaText(p, { ...known, totalKnown: false }, start + 5000), '', 'the total is a guess');
  t.is(etaText(p, { ...known, rate: 0 }, start + 5000), '', 'nothing moves');
  t.is(etaText({ ...p, value: 0 }, known, start + 5000), '', 'no progress yet');
  t.is(etaText({ ...p, value: 1000 }, known, start + 5000), '', 'done');
});
