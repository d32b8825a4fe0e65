// daemon.log with a size cap: once a write would pass it, the file becomes daemon.log.1, older
// ones shift up to daemon.log.<keep> and the oldest is dropped (logrotate's names, so `tail -f`
// users and log shippers find what they expect). Writes stay synchronous (a crash loses no line):
// pino's own destination (SonicBoom) writes; this only counts bytes and rotates.
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import pino from 'pino';

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_KEEP = 3;

export interface LogDestination {
  write(chunk: string): boolean;
  flush(): void;
}

export function rotatingLogFile(
  file: string,
  maxBytes = LOG_MAX_BYTES,
  keep = LOG_KEEP,
  onError: (e: unknown) => void = () => undefined,
): LogDestination {
  const open = (): ReturnType<typeof pino.destination> => {
    const d = pino.destination({ dest: file, mkdir: true, sync: true, mode: 0o600 });
    d.on('error', onError);
    return d;
  };
  let dest = open();
  let size = existsSync(file) ? statSync(file).size : 0;
  return {
    write(chunk) {
      const n = Buffer.byteLength(chunk);
      if (size > 0 && size + n > maxBytes) {
        try {
          dest.flushSync();
          dest.destroy();
          rmSync(`${file}.${keep}`, { force: true });
          for (let i = keep - 1; i >= 1; i--)
            if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
          renameSync(file, `${file}.1`);
        } catch (e) {
          onError(e);
        }
        dest = open();
        size = 0;
      }
      size += n;
      return dest.write(chunk);
    },
    flush: () => dest.flushSync(),
  };
}
