// sd start / stop / status.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SdError } from '../errors.js';
import { isAlive, readPid } from '../daemon/lock.js';
import { runtimePaths } from '../daemon/paths.js';
import { ensurePrivateDir } from '../fsutil.js';
import { EXIT, notRunning, type CliContext } from './context.js';
import { duration, shortId, table } from './format.js';

const ENTRY = fileURLToPath(new URL('../daemon/entry.js', import.meta.url));

export interface Status {
  running: true;
  pid: number;
  uptimeMs: number;
  dataDir: string;
  device: { id: string; name: string };
  currentLibrary: string;
  libraries: { id: string; name: string }[];
  services: Record<string, string>;
  p2pPort: number | null;
  disk?: { full: boolean; where?: string; since?: number; freeBytes: number | null };
}

async function tryStatus(ctx: CliContext): Promise<Status | undefined> {
  try {
    return (await (await ctx.rpc()).call('status', {})) as Status;
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_DAEMON_NOT_RUNNING') return undefined;
    throw e;
  }
}

export async function start(ctx: CliContext, opts: { foreground?: boolean; p2pPort?: string }): Promise<void> {
  if (opts.p2pPort !== undefined && !(/^\d{1,5}$/.test(opts.p2pPort) && Number(opts.p2pPort) <= 65535)) {
    throw new SdError('E_BAD_INPUT', `--p2p-port must be a port number (0 picks a free one), not "${opts.p2pPort}"`);
  }
  const args = [ENTRY, '--data-dir', ctx.dataDir, ...(opts.p2pPort !== undefined ? ['--p2p-port', opts.p2pPort] : [])];
  const running = await tryStatus(ctx);
  ctx.close();
  if (running)
    throw new SdError('E_ALREADY_RUNNING', `a daemon is already running for ${ctx.dataDir} (pid ${running.pid})`, {
      pid: running.pid,
    });
  if (ctx.flags.dryRun) {
    ctx.print(
      { wouldStart: true, dataDir: ctx.dataDir, foreground: !!opts.foreground },
      () => `would start a daemon for ${ctx.dataDir} (dry run: nothing was started)`,
    );
    return;
  }
  ensurePrivateDir(ctx.dataDir);
  if (opts.foreground) {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
    const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
    process.exitCode = code;
    return;
  }
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited: number | null = null;
  child.on('exit', (c) => (exited = c ?? 1));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) {
      const line = stderr.trim().split('\n').pop() ?? '';
      const m = /^(E_[A-Z_]+): (.*)$/.exec(line);
      throw m
        ? new SdError(m[1]!, m[2]!)
        : new SdError(
            'E_START_FAILED',
            `the daemon exited with code ${exited} while starting${stderr ? `: ${stderr.trim()}` : ''}`,
          );
    }
    const st = await tryStatus(ctx).catch(() => undefined);
    if (st && st.pid === child.pid) {
      child.stderr!.destroy();
      child.unref();
      ctx.print(
        st,
        () =>
          `${ctx.paint.green('started')} daemon pid ${st.pid} for ${st.dataDir} (device ${st.device.name}, ${shortId(st.device.id)})`,
      );
      return;
    }
    ctx.close();
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new SdError(
        'E_START_TIMEOUT',
        `the daemon did not answer within 30 s; see ${runtimePaths(ctx.dataDir).logs}/daemon.log`,
      );
    }
    await new Promise((r) => setTimeout(r, 40));
  }
}

export async function stop(ctx: CliContext): Promise<void> {
  const st = await tryStatus(ctx);
  if (!st) throw notRunning(ctx.dataDir);
  if (ctx.flags.dryRun) {
    ctx.print({ wouldStop: st.pid }, () => `would stop daemon pid ${st.pid} (dry run: nothing was stopped)`);
    return;
  }
  await (await ctx.rpc()).call('stop', {});
  ctx.close();
  const deadline = Date.now() + 60_000;
  while (isAlive(st.pid)) {
    if (Date.now() > deadline) throw new SdError('E_STOP_TIMEOUT', `daemon pid ${st.pid} is still running after 60 s`);
    await new Promise((r) => setTimeout(r, 30));
  }
  ctx.print({ stopped: true, pid: st.pid }, () => `stopped daemon pid ${st.pid}`);
}

export async function status(ctx: CliContext): Promise<void> {
  const st = await tryStatus(ctx);
  if (!st) {
    const stale = readPid(runtimePaths(ctx.dataDir).pid);
    const err = notRunning(ctx.dataDir);
    ctx.print({ running: false, dataDir: ctx.dataDir, stalePid: stale ?? null, error: err.toJSON() }, () =>
      [
        `${ctx.paint.red('●')} not running (${ctx.dataDir})`,
        stale ? `  a pid file names ${stale}, which is gone (it will be recovered at start)` : '',
        `  ${err.message}`,
      ]
        .filter(Boolean)
        .join('\n'),
    );
    process.exitCode = EXIT.notRunning;
    return;
  }
  const p = ctx.paint;
  ctx.print(st, () => {
    const cur = st.libraries.find((l) => l.id === st.currentLibrary);
    return [
      `${p.green('●')} running, pid ${st.pid}, up ${duration(st.uptimeMs)}`,
      `  data dir   ${st.dataDir}`,
      `  device     ${st.device.name} (${st.device.id})`,
      `  libraries  ${st.libraries.map((l) => (l.id === st.currentLibrary ? p.bold(l.name) + '*' : l.name)).join(', ')}${cur ? '' : ''}`,
      `  p2p port   ${st.p2pPort ?? 'off'}`,
      ...(st.disk ? [`  disk       ${diskLine(st.disk, p)}`] : []),
      '',
      table(['SERVICE', 'STATE'], Object.entries(st.services), ctx.style),
    ].join('\n');
  });
}

function diskLine(d: NonNullable<Status['disk']>, p: CliContext['paint']): string {
  const free = d.freeBytes === null ? '' : `${(d.freeBytes / 2 ** 20).toFixed(1)} MiB free`;
  if (!d.full) return `ok${free ? ` (${free})` : ''}`;
  return `${p.red('full')}${free ? ` (${free})` : ''}: ${d.where ?? 'a write'} failed; free some space, work resumes by itself`;
}
