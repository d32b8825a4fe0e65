// Unix socket path rules shared by the server and the client.
import { join } from 'node:path';
import { SdError } from '../errors.js';

export const SOCKET_FILE = 'sd.sock';

/** sun_path is 108 bytes on Linux including the terminating NUL (104 on macOS/BSD). */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

export function socketPath(dataDir: string): string {
  return join(dataDir, SOCKET_FILE);
}

/** Refuses a path the kernel would reject or (in older libuv) silently truncate. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new SdError(
      'E_SOCKET_PATH_TOO_LONG',
      `the socket path ${path} is ${bytes} bytes, over the OS limit of ${MAX_SOCKET_PATH_BYTES}; use a shorter --data-dir`,
      { path, bytes, max: MAX_SOCKET_PATH_BYTES },
    );
  }
}
