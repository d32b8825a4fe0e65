// sd start / stop / status.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SdError } from '../errors.js';
import { isAlive, readPid } from '../daemon/lock.js';
import { runtimePaths } from '../daemon/paths.js';
import { ensurePrivateDir } from '../fsutil.js';
import { EXIT, notRunning, type CliContext } from './context.js';
import { bytes, duration, shortId, table } from './format.js';
import { entryArgs, startFlags, type StartOptions } from './start-flags.js';
import type { DaemonStatus } from '../daemon/handler.js';
import { codeOf } from '../error-codes.js';
import { DAEMON_NODE_FLAGS, daemonEnv } from '../daemon/node-flags.js';

const osSignals = constants.signals as Record<string, number>;
const ENTRY = fileURLToPath(new URL('../daemon/entry.js', import.meta.url));

/** What `sd status` reads: its shape comes from the daemon's answer. */
export type Status = DaemonStatus;

async function tryStatus(ctx: CliContext, args: { services?: boolean } = {}): Promise<Status | undefined> {
  try {
    return await ctx.call('status', args);
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_DAEMON_NOT_RUNNING') return undefined;
    throw e;
  }
}

export async function start(ctx: CliContext, opts: StartOptions & { foreground?: boolean }): Promise<void> {
  const args = [ENTRY, '--data-dir', ctx.dataDir, ...entryArgs(startFlags(opts))];
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
  if (opts.foreground) return foreground([...args, '--foreground']);
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: daemonEnv(),
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited: number | null = null;
  child.on('exit', (c) => (exited = c ?? 1));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) {
      const line = stderr.trim().split('\n').pop() ?? '';
      const m = /^(E_[A-Z0-9_]+): (.*)$/.exec(line);
      throw m
        ? new SdError(codeOf(m[1], 'E_START_FAILED'), m[2]!)
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

/**
 * The daemon attached to this terminal: its log lines on stdout, and Ctrl-C (or SIGTERM) stops
 * it like `sd stop`. The terminal sends Ctrl-C's SIGINT to the daemon too; forwarding it as
 * well covers a signal sent to this process alone, and the daemon takes a second one calmly.
 */
async function foreground(args: string[]): Promise<void> {
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...args], { stdio: 'inherit', env: daemonEnv() });
  const forward = (sig: NodeJS.Signals) => (): void => void child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward(sig));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.on('exit', (c, s) => r([c, s])),
  );
  // The handlers stay: a second Ctrl-C that lands after the daemon has stopped must not kill this
  // process with 130 (signal listeners do not keep it alive, so it still ends at once).
  process.exitCode = code ?? (signal ? 128 + (osSignals[signal] ?? 0) : 1);
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

export async function status(ctx: CliContext, o: { services?: boolean } = {}): Promise<void> {
  const st = await tryStatus(ctx, o.services ? { services: true } : {});
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
  if (o.services) return ctx.print(st, () => serviceTree(ctx, st));
  ctx.print(st, () => {
    const cur = st.libraries.find((l) => l.id === st.currentLibrary);
    return [
      `${p.green('●')} running, pid ${st.pid}, up ${duration(st.uptimeMs)}`,
      `  data dir   ${st.dataDir}`,
      `  device     ${st.device.name} (${st.device.id})`,
      `  libraries  ${st.libraries.map((l) => (l.id === st.currentLibrary ? p.bold(l.name) + '*' : l.name)).join(', ')}${cur ? '' : ''}`,
      `  p2p port   ${st.p2pPort ?? 'off'}`,
      ...(st.memory
        ? [
            `  memory     ${bytes(st.memory.rss)} resident (JS heap ${bytes(st.memory.heapUsed)}, buffers ${bytes(st.memory.external)})`,
          ]
        : []),
      ...(st.memory?.released
        ? [
            `  released   ${bytes(Math.max(0, st.memory.released.before - st.memory.released.after))} ${Math.round((Date.now() - st.memory.released.at) / 1000)} s ago (${bytes(st.memory.released.before)} -> ${bytes(st.memory.released.after)})`,
          ]
        : []),
      ...(st.disk ? [`  disk       ${diskLine(st.disk, p)}`] : []),
      ...(st.jobs
        ? [`  jobs       ${st.jobs.running} running, ${st.jobs.queued} queued, ${st.jobs.paused} paused`]
        : []),
      '',
      table(['SERVICE', 'STATE'], Object.entries(st.services), ctx.style),
      ...(st.settings
        ? [
            '',
            table(
              ['SETTING', 'VALUE', 'FROM'],
              Object.entries(st.settings).map(([k, v]) => [k, String(v.value), v.source]),
              ctx.style,
            ),
          ]
        : []),
    ].join('\n');
  });
}

/** `sd status --services`: the actor tree, children indented under their parent. */
function serviceTree(ctx: CliContext, st: Status): string {
  const now = st.now ?? Date.now();
  const held = (ms: number): string => (ms < 10_000 ? `${(Math.max(0, ms) / 1000).toFixed(1)}s` : duration(ms));
  // Ids carry device, library and job ids after the kind (job:, peer:): shortened to what tells them apart on a screen.
  const label = (id: string): string =>
    id
      .split(':')
      .map((part, i) => (i > 0 && part.length > 12 ? shortId(part.split('.')[0]!, 10) : part))
      .join(':');
  const rows = (st.tree ?? [])
    .filter((n) => n.depth > 0)
    .map((n) => [`${'  '.repeat(n.depth - 1)}${label(n.id)}`, n.state || '-', held(now - n.since)]);
  return table(['ACTOR', 'STATE', 'FOR'], rows, ctx.style);
}

function diskLine(d: NonNullable<Status['disk']>, p: CliContext['paint']): string {
  const free = d.freeBytes === null ? '' : `${(d.freeBytes / 2 ** 20).toFixed(1)} MiB free`;
  if (!d.full) return `ok${free ? ` (${free})` : ''}`;
  return `${p.red('full')}${free ? ` (${free})` : ''}: ${d.where ?? 'a write'} failed; free some space, work resumes by itself`;
}
