// The daemon process: lock, Core, services, RPC server, graceful shutdown on signal or `sd stop`.
import { join } from 'node:path';
import pino from 'pino';
import { Core } from '../core.js';
import { SdError, toErrorValue } from '../errors.js';
import { ensurePrivateDir, tightenDataDir, usePrivateUmask } from '../fsutil.js';
import { reportWriteError } from '../disk.js';
import { ensureToken } from '../rpc/token.js';
import { startRpcServer } from '../rpc/server.js';
import { createHandler } from './handler.js';
import { threadsStuck } from '../jobs/hash-pool.js';
import { acquirePidLock } from './lock.js';
import { checkDataDirPrivate, checkSocketPath, runtimePaths } from './paths.js';

export interface DaemonOptions {
  dataDir: string;
  p2pPort?: number;
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const paths = runtimePaths(opts.dataDir);
  checkSocketPath(paths.socket);
  checkDataDirPrivate(opts.dataDir);
  usePrivateUmask(); // whatever the daemon creates (WAL, SHM, logs) is 0600 / 0700 from its first instant
  ensurePrivateDir(opts.dataDir);
  ensurePrivateDir(paths.logs);
  tightenDataDir(opts.dataDir);
  const dest = pino.destination({ dest: join(paths.logs, 'daemon.log'), mkdir: true, sync: true });
  // A full disk loses log lines; it never throws out of a log call.
  dest.on('error', (e: unknown) => void reportWriteError(e, join(paths.logs, 'daemon.log'), 'daemon log'));
  const log = pino({ level: process.env.SD_LOG_LEVEL ?? 'info' }, dest);
  const lock = acquirePidLock(paths.pid);
  if (lock.recoveredStale)
    log.warn({ stalePid: lock.recoveredStale }, 'recovered a stale pid file left by a crashed daemon');
  let core: Core;
  try {
    core = await Core.open(opts.dataDir);
  } catch (e) {
    lock.release();
    throw e;
  }
  core.log = log;
  if (opts.p2pPort !== undefined) {
    try {
      await core.startPeers(process.env.SD_P2P_HOST || '0.0.0.0', opts.p2pPort);
    } catch (e) {
      await core.close();
      lock.release();
      throw e;
    }
  }
  const startedAt = Date.now();
  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((r) => (markStopped = r));
  const token = ensureToken(opts.dataDir);
  const handler = createHandler(core, {
    pid: process.pid,
    startedAt,
    p2pPort: () => core.peers?.port ?? null,
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
    await core.close();
    lock.release();
    throw e;
  }
  log.info({ pid: process.pid, dataDir: opts.dataDir, device: core.device.id }, 'daemon started');

  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'daemon stopping');
      await server.close();
      await core.close();
      lock.release();
      log.info('daemon stopped');
      log.flush();
      endIfThreadsStuck(log);
      markStopped();
    })();
    return stopping;
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => void shutdown(sig).then(() => process.exit(0)));
  }
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
