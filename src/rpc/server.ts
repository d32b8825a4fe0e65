// The daemon's RPC listener: a private Unix socket, one served connection per client.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { SdError } from '../errors.js';
import { serveConnection, type RpcLog, type ServedConnection } from './connection.js';
import { DEFAULT_MAX_FRAME } from './frame.js';
import type { RpcHandler } from './protocol.js';
import { checkSocketPath } from './socket-path.js';

export type { RpcHandler } from './protocol.js';

export interface RpcServerOptions {
  socketPath: string;
  token: string;
  handler: RpcHandler;
  maxFrame?: number;
  log?: RpcLog;
}

export interface RpcServer {
  close(): Promise<void>;
  connections(): number;
}

const PROBE_MS = 1000;

export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const { socketPath, token, handler } = opts;
  checkSocketPath(socketPath);
  if (token.length === 0) throw new SdError('E_BAD_INPUT', 'the RPC server needs a non-empty token');
  const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  const log: RpcLog = opts.log ?? (() => {});
  await clearStaleSocket(socketPath);

  const live = new Map<net.Socket, ServedConnection>();
  const server = net.createServer((sock) => {
    live.set(sock, serveConnection(sock, { token, handler, maxFrame, log }));
    sock.once('close', () => live.delete(sock));
  });
  await listenPrivately(server, socketPath);
  server.on('error', (e) => log('rpc: server error', { message: e.message }));
  log('rpc: listening', { socketPath });

  let closing: Promise<void> | undefined;
  return {
    connections: () => live.size,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        // server.close waits for every connection; ending them lets replies already written drain.
        server.close(() => resolve());
        for (const c of live.values()) c.close();
      }).then(() => {
        live.clear(); // every socket is closed by now, though some 'close' events may still be queued
        removeIfPresent(socketPath);
      });
      return closing;
    },
  };
}

/** Binds with a umask that leaves the socket 0600 from its first instant, then chmods to be sure. */
function listenPrivately(server: net.Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      if (e.code === 'EADDRINUSE') reject(alreadyRunning(path));
      else reject(new SdError('E_LISTEN_FAILED', `cannot listen on ${path}: ${e.message}`, { errno: e.code }));
    };
    server.once('error', onError);
    let previous: number | undefined;
    try {
      previous = process.umask(0o177);
    } catch {
      // Worker threads may not change the umask; the chmod below still applies.
    }
    try {
      // For a Unix socket the bind happens synchronously inside listen(), so the umask window
      // covers it and no other code of this process runs meanwhile.
      server.listen(path, () => {
        server.off('error', onError);
        try {
          chmodSync(path, 0o600);
        } catch (e) {
          server.close();
          reject(new SdError('E_LISTEN_FAILED', `cannot make ${path} private: ${(e as Error).message}`));
          return;
        }
        resolve();
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

/** A socket file left by a crashed daemon is removed; one that a live server answers on is not. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!isSocket)
    throw new SdError('E_SOCKET_PATH_OCCUPIED', `${path} exists and is not a socket; move it out of the way`);
  if (await answers(path)) throw alreadyRunning(path);
  removeIfPresent(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(alive);
    };
    // A server too busy to accept within the probe time is still a live server.
    const timer = setTimeout(() => done(true), PROBE_MS);
    probe.once('connect', () => done(true));
    probe.once('error', (e: NodeJS.ErrnoException) => done(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
}

function alreadyRunning(path: string): SdError {
  return new SdError('E_ALREADY_RUNNING', `a daemon is already listening on ${path}; stop it with \`sd stop\` first`);
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
