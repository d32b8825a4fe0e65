// The real `sd` binary against real daemons in temporary data dirs; a pseudo-terminal through
// `script` (util-linux) for what only a terminal shows.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

export const SD = fileURLToPath(new URL('../../../bin/sd.js', import.meta.url));
export const VDFS = fileURLToPath(new URL('../../../bin/vdfs.js', import.meta.url));

export const baseEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  SD_MDNS: 'off',
  SD_P2P_HOST: '127.0.0.1',
  NO_COLOR: '1',
});

export interface Run {
  code: number;
  out: string;
  err: string;
}

export function sd(dir: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Run {
  const r = spawnSync(process.execPath, [SD, '--data-dir', dir, ...args], {
    encoding: 'utf8',
    env: { ...baseEnv(), ...env },
    timeout: 60_000,
    cwd,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `sd ... --json`, parsed; fails the test with stderr when it exits non-zero. */
export function sdJson<T = unknown>(t: ExecutionContext, dir: string, args: string[], env: NodeJS.ProcessEnv = {}): T {
  const r = sd(dir, ['--json', ...args], env);
  t.is(r.code, 0, `sd ${args.join(' ')}: ${r.err}${r.out}`);
  return JSON.parse(r.out) as T;
}

export function pidOf(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'sd.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Starts a daemon (with start flags) and stops it when the test ends, also when it fails. */
export function startDaemon(t: ExecutionContext, dir: string, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Run {
  const r = sd(dir, ['start', ...flags], env);
  t.teardown(() => stopDaemon(dir));
  t.is(r.code, 0, r.err);
  return r;
}

export function stopDaemon(dir: string): void {
  const pid = pidOf(dir);
  if (!pid) return;
  sd(dir, ['stop']);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A shell command line for the sd binary (for `script -c`). */
export function sdLine(dir: string, args: string[]): string {
  return [process.execPath, SD, '--data-dir', dir, ...args].map(sh).join(' ');
}

export interface Pty {
  /** Everything the terminal showed so far. */
  output(): string;
  write(s: string): void;
  exited: Promise<{ code: number | null; output: string }>;
  pid: number;
}

/**
 * Runs a shell command line in a pseudo-terminal (`script -qfec`): its output is what a
 * terminal would show, and bytes written to it are typed on that terminal (\x03 is Ctrl-C).
 */
export function inPty(t: ExecutionContext, line: string, env: NodeJS.ProcessEnv = {}): Pty {
  // `script` runs the line with $SHELL, or /bin/sh when it is unset (CI). dash does not exec a
  // lone command, and a Ctrl-C would kill it (exit 130) while our program ends cleanly; an
  // interactive shell waits for its job instead. bash execs a lone command, so the terminal's
  // program is ours, as when a user types it.
  const child = spawn('script', ['-qfec', line, '/dev/null'], {
    env: { ...baseEnv(), TERM: 'xterm', COLUMNS: '120', LINES: '40', SHELL: '/bin/bash', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdin.on('error', () => undefined); // typing into a terminal whose program has ended
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, output: out })),
  );
  let done = false;
  void exited.then(() => (done = true));
  t.teardown(() => {
    if (!done) child.kill('SIGKILL');
  });
  return {
    output: () => out,
    write: (s) => {
      if (!done) child.stdin.write(s);
    },
    exited,
    pid: child.pid!,
  };
}

export { until } from '../support/until.js';
