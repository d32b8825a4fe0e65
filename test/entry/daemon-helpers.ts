// The real daemon and the real `sd` binary for file-operation tests: a daemon per test with its
// own data dir and environment (test hooks), stopped when the test ends, also on failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { until } from '../support/until.js';

export const SD = fileURLToPath(new URL('../../../bin/sd.js', import.meta.url));

export interface Run {
  code: number;
  out: string;
  err: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a thread of process `pid` is blocked opening a FIFO (its kernel wait channel names the FIFO's partner wait). */
export function blockedOnFifo(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).some((tid) => {
    try {
      return /partner|fifo/.test(readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8'));
    } catch {
      return false; // a thread that ended meanwhile
    }
  });
}

export { until };

export class Daemon {
  constructor(
    readonly t: ExecutionContext,
    readonly dir: string,
    readonly env: Record<string, string> = {},
    readonly umask?: string,
  ) {}

  private fullEnv(): NodeJS.ProcessEnv {
    return { ...process.env, SD_MDNS: 'off', NO_COLOR: '1', ...this.env };
  }

  /** Runs `sd --data-dir DIR ARGS...` and waits for it (60 s at most). */
  sd(...args: string[]): Run {
    const r = spawnSync(process.execPath, [SD, '--data-dir', this.dir, ...args], {
      encoding: 'utf8',
      env: this.fullEnv(),
      timeout: 60_000,
    });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  /** The same through bash, so arguments can hold any bytes ($'\xff'); `args` is shell text. */
  sdShell(args: string): Run {
    const mask = this.umask ? `umask ${this.umask}; ` : '';
    const r = spawnSync('bash', ['-c', `${mask}exec "${process.execPath}" "${SD}" --data-dir "${this.dir}" ${args}`], {
      encoding: 'utf8',
      env: this.fullEnv(),
      timeout: 60_000,
    });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  /** Starts `sd ARGS...` without waiting; resolves when it exits (killed after 60 s). */
  sdAsync(...args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [SD, '--data-dir', this.dir, ...args], { env: this.fullEnv() });
      let out = '';
      let err = '';
      p.stdout.on('data', (b: Buffer) => (out += b));
      p.stderr.on('data', (b: Buffer) => (err += b));
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      this.t.teardown(() => {
        clearTimeout(timer);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      });
      p.on('error', reject);
      p.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out, err });
      });
    });
  }

  pid(): number | undefined {
    try {
      return Number(readFileSync(join(this.dir, 'sd.pid'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** Starts the daemon (under umask `umask` when given, e.g. '000'). */
  start(...args: string[]): Run {
    const r = this.umask ? this.sdShell(`start ${args.join(' ')}`) : this.sd('start', ...args);
    this.t.teardown(() => this.kill());
    return r;
  }

  /** Stops the daemon for good (sd stop, then SIGKILL if it is still there). */
  kill(): void {
    const pid = this.pid();
    if (!pid) return;
    this.sd('stop');
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }

  json<T>(...args: string[]): T {
    const r = this.sd('--json', ...args);
    if (r.code !== 0) throw new Error(`sd ${args.join(' ')} failed (${r.code}): ${r.err}${r.out}`);
    return JSON.parse(r.out) as T;
  }

  /** The error code of a failed `--json` run. */
  static code(r: Run): string | undefined {
    try {
      return (JSON.parse(r.out) as { error?: { code: string } }).error?.code;
    } catch {
      return /\b(E_[A-Z_]+)\b/.exec(r.err)?.[1];
    }
  }
}

/** Waits for the daemon to pause at a test hook point (SD_TEST_PAUSE_AT); returns a release. */
export async function pausedAt(dir: string, point: string): Promise<() => void> {
  const marker = join(dir, point);
  await until(`the daemon to pause at ${point}`, () => existsSync(marker), 30_000);
  return () => rmSync(marker, { force: true });
}
