// Where a data dir keeps the daemon's runtime files.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { SdError } from '../errors.js';

/** `--data-dir`, then SD_DATA_DIR, then $XDG_DATA_HOME/vdfs (~/.local/share/vdfs). */
export function defaultDataDir(flag?: string): string {
  if (flag) return resolve(flag);
  if (process.env.SD_DATA_DIR) return resolve(process.env.SD_DATA_DIR);
  const xdg = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return resolve(xdg, 'vdfs');
}

export function runtimePaths(dataDir: string): { socket: string; token: string; pid: string; logs: string } {
  return {
    socket: join(dataDir, 'sd.sock'),
    token: join(dataDir, 'rpc.token'),
    pid: join(dataDir, 'sd.pid'),
    logs: join(dataDir, 'logs'),
  };
}

/** sun_path holds 108 bytes on Linux including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

export function checkSocketPath(socket: string): void {
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new SdError(
      'E_SOCKET_PATH_TOO_LONG',
      `the socket path ${socket} is ${Buffer.byteLength(socket)} bytes, over the OS limit of ${MAX_SOCKET_PATH}; use a shorter --data-dir`,
    );
  }
}
