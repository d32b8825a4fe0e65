// One daemon per data dir: a pid file created exclusively. A pid file left by a crash (its
// process gone, or the pid reused by another program) is recovered.
import { closeSync, openSync, readFileSync, rmSync, writeSync, fchmodSync } from 'node:fs';
import { SdError } from '../errors.js';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when pid is alive and is one of our daemons (Linux: by its command line). */
export function isOurDaemon(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('daemon/entry.js');
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

export function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface PidLock {
  recoveredStale: number | undefined;
  release(): void;
}

export function acquirePidLock(path: string): PidLock {
  let recoveredStale: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      fchmodSync(fd, 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        recoveredStale,
        release: () => {
          if (readPid(path) === process.pid) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = readPid(path);
      if (pid !== undefined && pid !== process.pid && isOurDaemon(pid)) {
        throw new SdError('E_ALREADY_RUNNING', `a daemon is already running for this data dir (pid ${pid})`, { pid });
      }
      recoveredStale = pid;
      rmSync(path, { force: true });
    }
  }
  throw new SdError('E_LOCK', `could not take the lock ${path}`);
}
