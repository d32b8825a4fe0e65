// sd cp --device D SRC... DEST: copies files or folders of another device into a location here.
// The preview reads the index of D (replicated here): what each source is, its size, where it
// lands and what is in the way. The commit queues a `transfer` job (src/transfer/job.ts) that
// fetches, places (intent, trash, rename, index events) and verifies, in this device's log.
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { Library } from '../../library/library.js';
import { toPath } from '../../projections/entries.js';
import type { TransferInput, TransferItem } from '../../transfer/job.js';
import { check, defineCommand, type Conflict, type PlanChange } from '../define.js';
import { checkRawPath, freeName, lstat, place } from '../entry/paths.js';
import { OnConflict } from '../entry/transfer.js';
import { deviceRef, locate } from '../entry/queries.js';
import type { PreviewHost, ReadonlyLibrary } from '../host.js';

export function peersOn(core: PreviewHost): void {
  if (!core.peers || !core.transfers)
    throw new SdError(
      'E_P2P_OFF',
      'the daemon is not listening for peers; restart it with `sd start --p2p-port 0` (or a fixed port)',
    );
}

/** A device of the library other than this one, not revoked: its id and name. */
export function otherDevice(core: PreviewHost, lib: ReadonlyLibrary, ref: string): { dev: string; name: string } {
  const dev = deviceRef(lib.db, ref, core.device.id);
  if (dev === core.device.id)
    throw new SdError('E_BAD_INPUT', `"${ref}" is this device; use the command without --device`);
  const row = lib.db.prepare('SELECT name, revoked_at FROM devices WHERE dev = ?').get(dev) as
    { name: string; revoked_at: number | null } | undefined;
  if (row?.revoked_at) throw new SdError('E_REVOKED', `device "${row.name}" was revoked from this library`);
  return { dev, name: row?.name ?? dev.slice(0, 8) };
}

interface Source {
  path: string;
  files: number;
  bytes: number;
}

/** What the index of the source device says about a path: a file or folder, with its size. */
function sourceOf(lib: ReadonlyLibrary, dev: string, name: string, path: string): Source {
  checkRawPath(path);
  const { loc, key } = locate(lib.db, path, dev);
  const share = lib.db.prepare('SELECT serve FROM location_sharing WHERE id = ?').get(loc.id) as
    { serve: number } | undefined;
  if (share?.serve === 0)
    throw new SdError('E_NOT_SERVED', `"${name}" does not serve the location ${loc.path} (--no-serve)`, { path });
  if (key === '') {
    const t = lib.db
      .prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM entries WHERE loc = ? AND t = 0')
      .get(loc.id) as { n: number; b: number };
    return { path: loc.path, files: t.n, bytes: t.b };
  }
  const row = lib.db
    .prepare('SELECT t, size, dsize, dfiles FROM entries WHERE loc = ? AND key = ?')
    .get(loc.id, key) as { t: number; size: number; dsize: number | null; dfiles: number | null } | undefined;
  if (!row)
    throw new SdError('E_PATH_NOT_FOUND', `${path} is not in the index of "${name}" (see \`sd ls --device ${name}\`)`, {
      path,
    });
  if (row.t !== 0 && row.t !== 1)
    throw new SdError('E_NOT_A_FILE', `${path} on "${name}" is not a regular file or folder`, { path });
  return {
    path: `${loc.path}/${toPath(key)}`,
    files: row.t === 1 ? (row.dfiles ?? 0) : 1,
    bytes: row.t === 1 ? (row.dsize ?? 0) : row.size,
  };
}

export const pullEntries = defineCommand({
  name: 'transfer.pull',
  summary: 'copy files or folders of another device into a location of this one, verified by BLAKE3',
  input: z.object({
    device: z.string().min(1),
    sources: z.array(z.string().min(1)).min(1).max(1000),
    dest: z.string().min(1),
    onConflict: OnConflict,
  }),
  preview: ({ core, lib }, input) => {
    peersOn(core);
    const { dev, name } = otherDevice(core, lib, input.device);
    const self = core.device.id;
    const dp = place(lib.db, self, input.dest, { allowRoot: true });
    const destIsDir = !!lstat(dp.abs)?.isDirectory();
    if (input.sources.length > 1 && !destIsDir)
      throw new SdError('E_BAD_INPUT', `${input.dest} must be an existing folder to copy several items into it`);
    const items: TransferItem[] = [];
    const changes: PlanChange[] = [];
    const conflicts: Conflict[] = [];
    const taken = new Set<string>();
    let files = 0;
    let bytes = 0;
    for (const s of input.sources) {
      const src = sourceOf(lib, dev, name, s);
      let tgt = place(lib.db, self, destIsDir ? join(dp.abs, basename(src.path)) : dp.abs);
      if (tgt.loc.id !== dp.loc.id)
        throw new SdError('E_BAD_INPUT', `${tgt.abs} is in another location than ${dp.abs}`, { path: tgt.abs });
      let overwrite = false;
      if (lstat(tgt.abs) || taken.has(tgt.abs)) {
        const message = `${tgt.abs} already exists`;
        if (input.onConflict === 'skip') {
          changes.push({ op: 'skip', target: src.path, detail: message });
          continue;
        }
        if (input.onConflict === 'rename')
          tgt = place(lib.db, self, freeName(dirname(tgt.abs), basename(tgt.abs), taken));
        else if (input.onConflict === 'overwrite' && !taken.has(tgt.abs)) overwrite = true;
        else {
          conflicts.push({ code: 'E_DEST_EXISTS', target: tgt.abs, message });
          continue;
        }
      }
      taken.add(tgt.abs);
      items.push({ src: src.path, dest: tgt.abs, key: tgt.key, overwrite });
      changes.push({
        op: overwrite ? 'overwrite' : 'copy',
        target: tgt.abs,
        detail: `from "${name}": ${src.path} (${src.files} file(s))${overwrite ? '; the existing one goes to the trash' : ''}`,
        bytes: src.bytes,
      });
      files += src.files;
      bytes += src.bytes;
    }
    const data: TransferInput = {
      via: 'pull',
      command: 'transfer.pull',
      peer: dev,
      peerName: name,
      lib: lib.id,
      root: dp.loc.path,
      loc: dp.loc.id,
      items,
    };
    return {
      summary: `copy ${items.length} item(s) (${files} file(s), ${bytes} bytes) from "${name}" to ${destIsDir ? dp.abs : dirname(dp.abs)}`,
      changes,
      conflicts,
      warnings: items.length ? [] : ['nothing to copy'],
      data,
    };
  },
  commit: ({ core, lib }, plan) => {
    const d = plan.data!;
    if (d.items.length === 0) return { job: null };
    const job = core.jobs!.enqueue(lib, 'transfer', d.loc, d);
    return { job: job.id };
  },
  verify: ({ lib }, plan, r) =>
    plan.data!.items.length === 0
      ? [check(true, 'nothing to copy')]
      : [check(!!lib.db.prepare('SELECT 1 FROM jobs WHERE id = ?').get(r.job), 'the transfer job is queued')],
});
