// The daemon process: lock, Core, services, RPC server, graceful shutdown on signal or `sd stop`.
import { release } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { Core } from '../core.js';
import { SdError, toErrorValue } from '../errors.js';
import { ensurePrivateDir, tightenDataDir, usePrivateUmask } from '../fsutil.js';
import { reportWriteError } from '../disk.js';
import { ensureToken } from '../rpc/token.js';
import { startRpcServer } from '../rpc/server.js';
import { createHandler } from './handler.js';
import { rotatingLogFile } from './log-file.js';
import { threadsStuck } from '../jobs/hash-pool.js';
import { beneath } from '../jobs/beneath.js';
import { acquirePidLock } from './lock.js';
import { startLibraryReleaser } from './memory.js';
import { checkDataDirPrivate, checkSocketPath, runtimePaths } from './paths.js';
import { displaySafe } from '../cli/terminal.js';
import { parseIceServers } from '../sync/ice.js';
import type { WebRtcMode } from '../sync/network.js';
import { parseRate } from '../transfer/limit.js';
import { rememberPort, rememberedPort, resolveSettings, type Settings, type StartFlags } from './settings.js';

export interface DaemonOptions {
  dataDir: string;
  /** Start flags (`sd start --p2p-port 0 --mdns off`...); the environment and settings.json fill the rest. */
  flags?: StartFlags;
  /** `sd start --foreground`: log lines are printed on stdout too. */
  foreground?: boolean;
}

type Log = pino.Logger;

async function openLog(logs: string, foreground: boolean, onError: (e: unknown) => void): Promise<Log> {
  const file = rotatingLogFile(join(logs, 'daemon.log'), undefined, undefined, onError);
  const level = process.env.SD_LOG_LEVEL ?? 'info';
  if (!foreground) return pino({ level }, file);
  // Loaded only in foreground mode; formatting is synchronous so the last line ("daemon
  // stopped") is on the terminal before the process exits.
  process.stdout.on('error', () => undefined); // `sd start --foreground | head` must not crash the daemon
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({
    colorize: !!process.stdout.isTTY && !('NO_COLOR' in process.env),
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  // Log fields may carry names from peers: escaped like every other line the terminal shows.
  const stdout = { write: (s: string) => process.stdout.write(pretty(displaySafe(JSON.parse(s) as object))) };
  return pino(
    { level },
    pino.multistream([
      { stream: file, level },
      { stream: stdout, level },
    ]),
  );
}

/** Refuses a busy port before anything is created, with the error a user can act on. */
function probePort(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

async function choosePort(dataDir: string, host: string, settings: Settings): Promise<number | undefined> {
  const v = settings['p2p.port'].value;
  if (v === 'off') return undefined;
  const port = Number(v);
  if (port === 0) {
    // Any free port, but the one we had before when it is still free: peers saved our address.
    const last = rememberedPort(dataDir);
    return last !== undefined && (await probePort(host, last)) ? last : 0;
  }
  if (!(await probePort(host, port)))
    throw new SdError(
      'E_P2P_LISTEN',
      `cannot listen for peers on ${host}:${port}: the port is in use; choose another with --p2p-port (0 picks a free one)`,
      { host, port },
    );
  return port;
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const paths = runtimePaths(opts.dataDir);
  checkSocketPath(paths.socket);
  checkDataDirPrivate(opts.dataDir);
  usePrivateUmask(); // whatever the daemon creates (WAL, SHM, logs) is 0600 / 0700 from its first instant
  ensurePrivateDir(opts.dataDir);
  ensurePrivateDir(paths.logs);
  tightenDataDir(opts.dataDir);
  // A full disk loses log lines; it never throws out of a log call.
  const log = await openLog(paths.logs, !!opts.foreground, (e) =>
    reportWriteError(e, join(paths.logs, 'daemon.log'), 'daemon log'),
  );
  // Signals are caught from the start: one that arrives while the daemon starts stops it as
  // soon as it has started (the default action would kill it with its pid file and socket left).
  // Ctrl-C in a terminal reaches the whole process group and `sd start --foreground` forwards it
  // too, so SIGINT may arrive twice: every signal after the first waits for the same shutdown.
  let stopOn: ((why: string) => void) | undefined;
  let pending: string | undefined;
  let firstSignal = 0;
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (firstSignal && Date.now() - firstSignal > 5_000) {
        log.warn({ sig }, 'signal received again while stopping: exiting now');
        process.exit(1);
      }
      firstSignal ||= Date.now();
      if (stopOn) stopOn(sig);
      else pending ??= sig;
    });
  }
  const lock = acquirePidLock(paths.pid);
  if (lock.recoveredStale)
    log.warn({ stalePid: lock.recoveredStale }, 'recovered a stale pid file left by a crashed daemon');
  let core: Core | undefined;
  let settings: Settings;
  try {
    // Settings and the peer port are checked before the Core creates anything (a first start
    // on a busy port leaves no library behind).
    settings = resolveSettings(opts.dataDir, opts.flags ?? {}, process.env, '(set below)');
    const host = process.env.SD_P2P_HOST || '0.0.0.0';
    const port = await choosePort(opts.dataDir, host, settings);
    process.env.SD_MDNS = String(settings.mdns.value); // read by the discovery module
    core = await Core.open(opts.dataDir);
    core.log = log;
    const wanted = settings['device.name'];
    if (wanted.source === 'default') wanted.value = core.device.name;
    else if (wanted.value !== core.device.name) {
      log.info({ from: core.device.name, to: wanted.value, source: wanted.source }, 'renaming this device');
      await core.command('device.rename', { name: wanted.value }).catch((e: unknown) => {
        log.warn({ err: toErrorValue(e) }, 'could not rename this device');
      });
    }
    core.transfers?.setLimit(parseRate(String(settings['transfer.limit'].value)) ?? 0);
    if (port !== undefined) {
      const secret = String(settings['ice.turn-secret'].value);
      const peers = await core.startPeers(host, port, {
        webrtc: settings.webrtc.value as WebRtcMode,
        ice: {
          servers: parseIceServers(String(settings['ice.servers'].value)),
          secret: secret === 'none' ? undefined : secret,
          share: settings['ice.share'].value === 'on',
        },
      });
      if (peers.port) rememberPort(opts.dataDir, peers.port);
    }
  } catch (e) {
    await core?.close();
    lock.release();
    throw e;
  }
  const startedAt = Date.now();
  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((r) => (markStopped = r));
  const token = ensureToken(opts.dataDir);
  const live = core;
  // Memory a busy spell took goes back to the system once the daemon is quiet (an index, a sync).
  const releaser = startLibraryReleaser(() => live.libraries.list(), {
    intervalMs: Number(process.env.SD_MEMORY_CHECK_MS) || undefined,
    onRelease: (r) => log.debug({ before: r.before, after: r.after, ms: r.ms }, 'memory released'),
  });
  const handler = createHandler(live, {
    memoryRelease: releaser.last,
    pid: process.pid,
    startedAt,
    p2pPort: () => live.peers?.port ?? null,
    settings: () => settings,
    requestStop: () => void shutdown('rpc'),
  });
  let server: Awaited<ReturnType<typeof startRpcServer>>;
  try {
    server = await startRpcServer({
      socketPath: paths.socket,
      token,
      handler,
      log: (msg: string, extra?: unknown) => log.info({ extra }, msg),
    });
  } catch (e) {
    await live.close();
    lock.release();
    throw e;
  }
  log.info(
    { pid: process.pid, dataDir: opts.dataDir, device: live.device.id, p2pPort: live.peers?.port ?? null },
    'daemon started',
  );
  // The index's no-symlink rule needs openat2 (Linux 5.6+, through koffi) and /proc (jobs/beneath.ts).
  // Where either is missing, index jobs open by path, as before: said once, here.
  if (!beneath()?.openFolder)
    log.warn(
      { platform: process.platform, release: release() },
      'openat2 or /proc is not available: index jobs open files and folders by path, so a folder swapped for a symlink inside a location can make them read outside it',
    );

  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'daemon stopping');
      releaser.stop();
      await server.close();
      await live.close();
      lock.release();
      log.info('daemon stopped');
      log.flush();
      endIfThreadsStuck(log);
      markStopped();
    })();
    return stopping;
  };
  stopOn = (why) => void shutdown(why).then(() => process.exit(0));
  if (pending) stopOn(pending);
  process.on('uncaughtException', (err) => {
    // A write that met a full disk outside every handler: noted (sd status), the daemon goes on.
    if (core.disk.report(err, 'a background write')) return;
    log.fatal({ err }, 'uncaught exception');
    void shutdown('crash').finally(() => process.exit(70));
  });
  await stopped;
}

/**
 * Node joins its worker threads when the process exits, so a hashing thread blocked in the
 * kernel would keep a stopped daemon alive forever. Everything is saved and closed by now:
 * the process ends itself with SIGKILL, the one way out that does not wait for the thread.
 */
function endIfThreadsStuck(log: { warn(o: object, msg?: string): void; flush(): void }): void {
  if (!threadsStuck()) return;
  log.warn({}, 'a hashing thread is stuck in the kernel; state is saved, ending the process with SIGKILL');
  log.flush();
  process.kill(process.pid, 'SIGKILL');
}

export function describeStartupError(e: unknown): string {
  const v = toErrorValue(e);
  return e instanceof SdError ? `${v.code}: ${v.message}` : `E_INTERNAL: ${v.message}`;
}
