// Where a data dir keeps the daemon's runtime files.
import { lstatSync, statSync, type Stats } from 'node:fs';
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

/**
 * Refuses, as ssh does with its key files, a data dir, socket or token that is not ours alone:
 * owned by another user (who could have created it first, e.g. under a shared /tmp, and then
 * answer as a fake daemon), or readable or writable by others. Says which file and what to do.
 */
export function checkPrivate(path: string, kind: 'data dir' | 'socket' | 'token'): void {
  let st: Stats | undefined;
  try {
    // The data dir may be reached through a symlink of the user's; the files in it may not.
    st = kind === 'data dir' ? statSync(path, { throwIfNoEntry: false }) : lstatSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw new SdError('E_DATA_DIR_UNREADABLE', `cannot check ${path}: ${(e as Error).message}`, { path });
  }
  if (!st) return;
  const uid = process.getuid?.();
  if (kind !== 'data dir' && st.isSymbolicLink())
    throw new SdError(
      'E_NOT_PRIVATE',
      `the ${kind} ${path} is a symlink; remove it (\`rm ${path}\`) and start the daemon again`,
      {
        path,
      },
    );
  if (uid !== undefined && st.uid !== uid)
    throw new SdError(
      'E_NOT_OURS',
      `the ${kind} ${path} belongs to uid ${st.uid}, not to you (uid ${uid}): another user may have created it. Nothing was sent to it. Use a data dir of your own (--data-dir or SD_DATA_DIR)`,
      { path, owner: st.uid },
    );
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    const fix = kind === 'data dir' ? 700 : 600;
    throw new SdError(
      'E_NOT_PRIVATE',
      `permissions ${mode.toString(8).padStart(4, '0')} for the ${kind} ${path} are too open: others can ${mode & 0o022 ? 'write' : 'read'} it. It is required that it is not accessible by others: \`chmod ${fix} ${path}\` (and check nothing was planted in it)`,
      { path, mode },
    );
  }
}

/** The data dir, its socket and its token, each checked (those that exist). */
export function checkDataDirPrivate(dataDir: string): void {
  checkPrivate(dataDir, 'data dir');
  const p = runtimePaths(dataDir);
  checkPrivate(p.socket, 'socket');
  checkPrivate(p.token, 'token');
}
