// `sd replay --rebuild`: rebuilds every projection of a library from its log, in place and in one
// transaction, with the daemon stopped (like `restic rebuild-index`, it takes the data dir for
// itself): nothing else writes while the tables are emptied and filled again.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../../errors.js';
import { initHashing } from '../../events/hash.js';
import { keysFromPem } from '../../events/keys.js';
import { deriveKey, readKeyInfo } from '../../store/cipher.js';
import { Library } from '../../library/library.js';
import { readAliases } from '../../library/names.js';
import { checksums } from '../../projections/index.js';
import { acquirePidLock } from '../../daemon/lock.js';
import { runtimePaths } from '../../daemon/paths.js';

export interface RebuildReport {
  library: string;
  name: string;
  events: number;
  before: string;
  after: string;
  ms: number;
}

/** Rebuilds the libraries of a data dir (all, or the one whose id, alias or name is `only`). */
export async function rebuildLibraries(
  dataDir: string,
  only: string | undefined,
  progress: (lib: string, done: number, total: number) => void,
): Promise<RebuildReport[]> {
  await initHashing();
  // Holding the daemon's own lock keeps a daemon from starting meanwhile (and refuses a running one).
  let lock: ReturnType<typeof acquirePidLock>;
  try {
    lock = acquirePidLock(runtimePaths(dataDir).pid);
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_ALREADY_RUNNING')
      throw new SdError('E_DAEMON_RUNNING', 'the daemon is running: stop it first (`sd stop`), then rebuild');
    throw e;
  }
  try {
    const keys = keysFromPem(readFileSync(join(dataDir, 'device.key'), 'utf8'));
    const dir = join(dataDir, 'libraries');
    const ids = existsSync(dir) ? readdirSync(dir).flatMap((f) => /^([0-9a-f-]{36})\.db$/.exec(f)?.[1] ?? []) : [];
    const aliases = readAliases(dataDir);
    const out: RebuildReport[] = [];
    for (const id of ids.sort()) {
      const path = join(dir, `${id}.db`);
      const info = readKeyInfo(path);
      const alias = aliases[id]?.alias;
      if (
        only &&
        only !== id &&
        !id.startsWith(only) &&
        alias !== only &&
        info?.name !== only &&
        !(await nameIs(path, id, keys, only))
      )
        continue;
      let key: string | undefined;
      if (info) {
        if (!process.env.SD_LIBRARY_PASSPHRASE)
          throw new SdError('E_LIBRARY_LOCKED', `"${info.name}" is encrypted: set SD_LIBRARY_PASSPHRASE to rebuild it`);
        key = await deriveKey(process.env.SD_LIBRARY_PASSPHRASE, info);
      }
      const lib = Library.open(path, id, keys, { key });
      try {
        const t0 = performance.now();
        const total = (lib.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
        const before = checksums(lib.db).total;
        const events = lib.rebuild((done) => progress(lib.name, done, total));
        lib.flushSearchIndex();
        out.push({
          library: id,
          name: lib.name,
          events,
          before,
          after: checksums(lib.db).total,
          ms: performance.now() - t0,
        });
      } finally {
        await lib.close();
      }
    }
    if (only && out.length === 0)
      throw new SdError('E_LIBRARY_NOT_FOUND', `no library named or with id "${only}" (see \`sd library list\`)`);
    return out;
  } finally {
    lock.release();
  }
}

async function nameIs(path: string, id: string, keys: ReturnType<typeof keysFromPem>, name: string): Promise<boolean> {
  if (readKeyInfo(path)) return false;
  const lib = Library.open(path, id, keys);
  try {
    return lib.name === name;
  } finally {
    await lib.close();
  }
}
