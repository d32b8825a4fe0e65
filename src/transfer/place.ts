// The end of a transfer job: the items fetched into `.vdfs-partial/<job>/` are placed by one file
// operation (intent, trash for --on-conflict overwrite, rename, index events: intents.ts), then
// verified: the BLAKE3 of the bytes written for every file (computed as they were written, and
// checked then against the one the source computed from its own bytes) is recorded, each placed
// file must be there with its size, and the index must hold it. This device records what it received
// ("copied from laptop2", content ids and BLAKE3s) and the verify outcome in its own log.
import { closeSync, constants as C, fstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';
import type { Check } from '../ops/define.js';
import { check } from '../ops/define.js';
import type { JobContext } from '../jobs/context.js';
import { fsPathOfAbs } from '../jobs/names.js';
import type { Library } from '../library/library.js';
import { SEP, toKey } from '../projections/entries.js';
import { Dir, fsError, withParentAsync } from '../ops/entry/confine.js';
import { applySteps } from '../ops/entry/intents.js';
import { lstat, place, stampOf } from '../ops/entry/paths.js';
import { manifestOf, type Step } from '../ops/entry/steps.js';
import { removeTree } from '../ops/entry/tree-write.js';
import { trashStep } from '../ops/entry/transfer.js';
import { list } from '../ops/entry/tree.js';
import type { TransferCheckpoint, TransferInput, TransferJobHost } from './job.js';
import { fillIds, forget } from './ident.js';
import { PARTIAL_DIR } from './source.js';
import { isHidden } from '../jobs/walk-rules.js';

const ROWS_PER_EVENT = 4000;

/** `<root>/.vdfs-partial/<job>`: folders of mode 0700, never reached through a link. */
export function partialRoot(lib: Library, root: string, job: string): string {
  void lib;
  const d = Dir.root(fsPathOfAbs(root), root);
  try {
    let cur = d;
    for (const name of [PARTIAL_DIR, job]) {
      const st = cur.lstat(name);
      if (st && !st.isDirectory())
        throw new SdError('E_PATH_CHANGED', `${cur.show(name)} is not a folder (a link or a file); move it away`, {
          path: cur.show(name),
        });
      if (!st)
        try {
          mkdirPrivate(cur, name);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, cur.show(name));
        }
      const next = cur.open(name);
      if (cur !== d) cur.close();
      cur = next;
    }
    cur.close();
  } finally {
    d.close();
  }
  return join(root, PARTIAL_DIR, job);
}

function mkdirPrivate(d: Dir, name: string): void {
  mkdirSync(d.at(name), 0o700);
}

/** Removes partial downloads of jobs that are over (and this job's own when `removeSelf`). */
export function cleanPartials(lib: Library, root: string, self: string, removeSelf: boolean): void {
  if (removeSelf) forget(self);
  let d: Dir;
  try {
    d = Dir.root(fsPathOfAbs(join(root, PARTIAL_DIR)), join(root, PARTIAL_DIR));
  } catch {
    return; // none yet (or not reachable safely: left alone)
  }
  try {
    const live = new Set(
      (
        lib.db
          .prepare("SELECT id FROM jobs WHERE kind = 'transfer' AND state IN ('queued', 'running', 'paused')")
          .all() as {
          id: string;
        }[]
      ).map((r) => r.id),
    );
    for (const { name } of list(d))
      if (name === self ? removeSelf : !live.has(name))
        try {
          removeTree(d, name);
        } catch {
          // busy or vanished: the next job tries again
        }
  } finally {
    d.close();
  }
}

/**
 * What is at a placed file's path, seen through its held folder (never through a link): its size
 * when it is a regular file. Its bytes are not read again: fetch.ts hashed the bytes it wrote.
 */
async function placedSize(root: string, abs: string): Promise<number> {
  return withParentAsync(root, abs, async (d, n) => {
    let fd: number;
    try {
      fd = openSync(d.at(n), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (e) {
      throw fsError(e, abs);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new SdError('E_NOT_A_FILE', `${abs} is not a regular file`, { path: abs });
      return st.size;
    } finally {
      closeSync(fd);
    }
  });
}

export async function placeAndVerify(
  core: TransferJobHost,
  ctx: JobContext,
  input: TransferInput,
  cp: TransferCheckpoint,
): Promise<void> {
  const lib = ctx.lib;
  const self = core.device.id;
  const tmp = join(input.root, PARTIAL_DIR, ctx.job.id);
  const steps: Step[] = [];
  const cids = new Map<string, string>();
  for (const [i, item] of input.items.entries()) {
    const from = join(tmp, String(i));
    const st = lstat(from);
    if (!st) {
      if (lstat(item.dest)) continue; // placed before a restart
      throw new SdError('E_PATH_CHANGED', `the received copy of ${item.src} is gone from ${from}`, { path: from });
    }
    if (item.overwrite && lstat(item.dest)) {
      const old = await manifestOf(input.root, item.dest, false);
      steps.push(trashStep({ core, lib }, place(lib.db, self, item.dest), old, 'overwritten'));
    }
    // Small files were identified as they were written (ident.ts); others are read on the hashing threads.
    let m = await manifestOf(input.root, from, false);
    if (!fillIds(ctx.job.id, i, m.items, item.dest)) m = await manifestOf(input.root, from, true);
    for (const it of m.items) if (it[4]) cids.set(`${i}/${it[0]}`, it[4]);
    steps.push({
      k: 'move',
      from,
      to: item.dest,
      fromRoot: input.root,
      toRoot: input.root,
      stamp: stampOf(st),
      fromLoc: null,
      toLoc: input.loc,
      toKey: item.key,
      manifest: m,
    });
  }
  if (steps.length) await applySteps(lib, input.command, steps);

  const checks: Check[] = [];
  const rows: [string, string, string, number][] = [];
  let files = 0;
  let bytes = 0;
  const cidOf = lib.db.prepare('SELECT cid FROM entries WHERE loc = ? AND key = ?');
  for (const [i, item] of input.items.entries()) {
    const bad: string[] = [];
    let n = 0;
    let b = 0;
    for (const [rel, t, size] of cp.lists[i] ?? []) {
      if (t !== 0) continue;
      const abs = rel === '' ? item.dest : `${item.dest}/${rel}`;
      const key = rel === '' ? item.key : item.key + SEP + toKey(rel);
      const want = cp.done[`${i}/${rel}`];
      // The BLAKE3 of the bytes written, checked against the source's when the file's last chunk
      // arrived (fetch.ts); here, that the file placed is that file: there, regular, of its size.
      const got = String(want ?? '');
      try {
        const placed = await placedSize(input.root, abs);
        if (placed !== size) bad.push(`${abs}: ${placed} bytes, not the ${size} the source sent`);
      } catch (e) {
        bad.push((e as Error).message);
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(got)) bad.push(`${abs}: no BLAKE3 was checked for it`);
      const cid =
        cids.get(`${i}/${rel}`) ?? (cidOf.get(input.loc, key) as { cid: string | null } | undefined)?.cid ?? '';
      rows.push([key, cid, got, size]);
      n++;
      b += size;
    }
    files += n;
    bytes += b;
    checks.push(
      check(
        bad.length === 0,
        `${item.dest} is what ${input.peerName} read (${n} file(s), ${b} bytes, BLAKE3 of each)`,
        bad.length ? bad.slice(0, 10).join('; ') : undefined,
      ),
    );
    const indexed = !!lib.db.prepare('SELECT 1 FROM entries WHERE loc = ? AND key = ?').get(input.loc, item.key);
    const hidden = item.key.split(SEP).some(isHidden);
    if (!hidden) checks.push(check(indexed, `${item.dest} is in the index`, indexed ? undefined : 'no index entry'));
  }
  const ok = checks.every((c) => c.ok);
  ctx.commit(
    () => {
      let first: { dev: string; seq: number } | undefined;
      for (let k = 0; k === 0 || k < rows.length; k += ROWS_PER_EVENT) {
        const ev = lib.append('transfer.received', {
          loc: input.loc,
          from: input.peer,
          name: input.peerName.slice(0, 200) || input.peer.slice(0, 8),
          via: input.via,
          ...(input.drop ? { drop: input.drop } : {}),
          files,
          bytes,
          received: cp.received,
          refused: cp.refused,
          items: rows.slice(k, k + ROWS_PER_EVENT),
        });
        first ??= ev;
      }
      lib.append('command.verified', {
        command: input.command,
        refs: [[first!.dev, first!.seq]],
        ok,
        checks: checks.slice(0, 1000).map((c) => (c.detail ? { ...c, detail: c.detail.slice(0, 16_000) } : c)),
      });
    },
    'done',
    { ...cp, phase: 'done' },
    bytes,
    bytes,
  );
  cleanPartials(lib, input.root, ctx.job.id, true);
  if (input.drop) core.transfers?.dropEnded(lib, input.drop, ok ? 'done' : 'failed');
  if (!ok)
    throw new SdError(
      'E_VERIFY_FAILED',
      checks
        .filter((c) => !c.ok)
        .map((c) => `${c.what}: ${c.detail ?? ''}`)
        .join('; ')
        .slice(0, 2000),
    );
}
