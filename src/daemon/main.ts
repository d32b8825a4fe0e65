// The daemon process: lock, Core, services, RPC server, graceful shutdown on signal or `sd stop`.
import { join } from 'node:path';
import pino from 'pino';
import { Core } from '../core.js';
import { SdError, toErrorValue } from '../errors.js';
import { ensurePrivateDir } from '../fsutil.js';
import { ensureToken } from '../rpc/token.js';
import { startRpcServer } from '../rpc/server.js';
import { createHandler } from './handler.js';
import { rotatingLogFile } from './log-file.js';
import { acquirePidLock } from './lock.js';
import { checkSocketPath, runtimePaths } from './paths.js';

export interface DaemonOptions {
  dataDir: string;
  p2pPort?: number;
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const paths = runtimePaths(opts.dataDir);
  checkSocketPath(paths.socket);
  ensurePrivateDir(opts.dataDir);
  ensurePrivateDir(paths.logs);
  const log = pino({ level: process.env.SD_LOG_LEVEL ?? 'info' }, rotatingLogFile(join(paths.logs, 'daemon.log')));
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
      markStopped();
    })();
    return stopping;
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => void shutdown(sig).then(() => process.exit(0)));
  }
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    void shutdown('crash').finally(() => process.exit(70));
  });
  await stopped;
}

export function describeStartupError(e: unknown): string {
  const v = toErrorValue(e);
  return e instanceof SdError ? `${v.code}: ${v.message}` : `E_INTERNAL: ${v.message}`;
}
