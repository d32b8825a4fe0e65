// The index job: walk -> diff against the projection -> batched events -> content
// identification -> aggregation. Every batch of events is committed together with the job's
// checkpoint, so a job killed at any point resumes exactly where its last batch ended.
import { changedIn, locationChanged, type RootPin } from './beneath.js';
import { ignoresAbove, pinLocation, pinnedFolder, scopesOf, surviving } from './index-root.js';
import { checkFolder, recordFolder } from './location-folder.js';
import { Pages, type RawRow } from './index-pages.js';
import { matchMoves } from './index-moves.js';
import { SdError } from '../errors.js';
import { DIR, FILE, SEP, SPECIAL, SYMLINK, toKey, toPath, type EntryTuple } from '../projections/entries.js';
import { tupleOf } from './walk-stat.js';
import type { JobContext } from './context.js';
import { kindOf } from './kind.js';
import { fsPathOf } from './names.js';
import { walk, type WalkEntry, type WalkRules } from './walk.js';
import { identifyPhase, firstIndexBulkFrom, entriesBound, locationOf, withoutCidIndex } from './index-phases.js';
import { aggregatePhase, FolderTotals, type WalkTotals } from './index-aggregate.js';
import { HashAhead } from './hash-ahead.js';
import { excludedBelow } from './exclude.js';
import { PhaseClock } from './phase-times.js';
import { inBatches } from '../events/batches.js';
import type { IndexCheckpoint, IndexInput } from './index-checkpoint.js';

export type { IndexCheckpoint, IndexInput } from './index-checkpoint.js';

const BATCH = 1000;
const HOLD_LIMIT = 100_000;

export async function runIndexJob(ctx: JobContext): Promise<void> {
  const input = ctx.job.input as IndexInput;
  const loc = locationOf(ctx.lib, input.loc);
  let cp = (ctx.job.checkpoint as IndexCheckpoint | null) ?? {
    phase: 'walk',
    scopeIdx: 0,
    fresh: !ctx.lib.db.prepare('SELECT 1 FROM entries WHERE loc = ? LIMIT 1').get(loc.id),
    pendingNew: [],
    pendingGone: [],
    walked: 0,
    startSeq: ctx.lib.log.headOf(ctx.lib.log.deviceId).seq,
  };
  const clock = new PhaseClock(cp.times ?? {});
  // Every open of the location's root in this job must find the folder it finds now (another
  // folder put at its path since is E_LOCATION_CHANGED, and nothing more is read).
  // (The aggregate phase reads nothing from disk: a job resumed there needs no folder.)
  const pin = cp.phase === 'aggregate' ? undefined : pinLocation(loc.path, cp);
  // A new job must find the folder the location's last job began with (or the one `--adopt` saw).
  // Kept from the start, with the job's first checkpoint: a job resumed after a crash before its
  // first batch was written still checks the folder it began with.
  if (!ctx.job.checkpoint) {
    const now = pinnedFolder(cp);
    checkFolder(ctx.lib.db, loc, now, input.adopt);
    ctx.commit(() => recordFolder(ctx.lib.db, loc.id, now), cp.phase, cp, 0, null);
  }
  let folders: FolderTotals | undefined;
  if (cp.phase === 'walk') {
    [cp, folders] = await walkPhase(ctx, loc, input, cp, clock, pin!);
    if (ctx.signal.aborted) return;
  }
  if (cp.phase === 'identify') {
    await identifyPhase(ctx, loc, !!input.full, cp.cursor, cp.startSeq, clock, pin, cp.pin);
    if (ctx.signal.aborted) return;
  }
  // A rescan that changed nothing needs no new folder sizes: only the time it ran.
  const unchanged =
    cp.startSeq !== undefined && ctx.lib.log.headOf(ctx.lib.log.deviceId).seq === cp.startSeq && !ctx.job.resumes;
  await aggregatePhase(ctx, loc, clock, unchanged ? (cp.walkedTotals ?? 'count') : undefined, folders);
}

async function walkPhase(
  ctx: JobContext,
  loc: { id: string; path: string; rules: WalkRules },
  input: IndexInput,
  start: IndexCheckpoint,
  clock: PhaseClock,
  pin: RootPin,
): Promise<[IndexCheckpoint, FolderTotals | undefined]> {
  const cp: IndexCheckpoint = { ...start, pendingNew: [...start.pendingNew], pendingGone: [...start.pendingGone] };
  const scopes = (cp.scopes ??= scopesOf(loc.path, loc.rules, input));
  const exclude = excludedBelow(loc.path).map((e) => e.path);
  // Totals only for one uninterrupted walk of the whole location that could read everything.
  let totals: WalkTotals | undefined =
    scopes.length === 1 && scopes[0] === '' && start.cursor === undefined && start.walked === 0
      ? { files: 0, dirs: 0, bytes: 0 }
      : undefined;
  // ...and for a first index, every folder's totals (the aggregate then reads nothing back).
  let folders = totals && cp.fresh ? new FolderTotals() : undefined;
  // A first index writes each file's entry with its content id (see hash-ahead.ts).
  // Its files' sizes are known once they are hashed (the walk does not lstat them), so its totals
  // count files as they are written; one written otherwise than walked leaves the totals to the
  // aggregate phase.
  const ahead = cp.fresh
    ? new HashAhead<IndexCheckpoint>(
        ctx,
        loc.path,
        clock,
        (ups, c, exact) => {
          if (!exact) totals = folders = undefined;
          else if (totals)
            for (const u of ups)
              if (u[1] === FILE) {
                totals.files++;
                totals.bytes += u[2];
                folders?.file(u[0], u[2]);
              }
          flush(ctx, loc.id, ups, [], [], c, clock);
        },
        pin,
      )
    : undefined;
  // A large first index drops the content-id index while it writes, and builds it once at the end.
  let rebuild: (() => void) | undefined;
  const bulkFrom = ahead ? firstIndexBulkFrom(entriesBound(ctx.lib)) : Infinity;
  // The projection as it was before this run, on its own read connection (a WAL snapshot).
  const snap = ctx.lib.openReader();
  // One read transaction: every page of the projection comes from the same snapshot.
  snap.exec('BEGIN');
  try {
    for (; cp.scopeIdx < scopes.length; cp.scopeIdx++, cp.cursor = undefined) {
      // A scope that vanished since the job began is walked from its nearest surviving ancestor, whole.
      const scope = surviving(loc.path, scopes[cp.scopeIdx]!);
      if (scope !== scopes[cp.scopeIdx]) cp.cursor = undefined;
      const prefix = scope === '' ? '' : `${scope}/`;
      const scopeKey = toKey(scope);
      const lo = cp.cursor !== undefined ? cp.cursor : scope === '' ? '' : scopeKey + SEP;
      const hi = scope === '' ? '\uffff' : scopeKey + '\u0002';
      const proj = new Pages(snap, loc.id, lo, hi);
      let p = cp.fresh ? undefined : proj.next();
      const errored: string[] = [];
      let goneTop: string | undefined;
      const upserts: EntryTuple[] = [];
      const gone: string[] = [];
      const missing = ([key, t, size, , inode]: RawRow): void => {
        if (goneTop !== undefined && key.startsWith(goneTop + SEP)) return; // inside a folder already gone
        if (errored.some((e) => key === e || key.startsWith(e + SEP))) return; // could not be read: keep
        goneTop = key;
        if (cp.fresh) gone.push(key);
        else cp.pendingGone.push([key, inode, size, t]);
      };
      const startAfter = cp.cursor !== undefined ? toPath(cp.cursor).slice(prefix.length) : undefined;
      const root = fsPathOf(loc.path, scope);
      // walk: time spent waiting for the walker's next batch (listing and lstat on the pool)
      let waitFrom = performance.now();
      let checkpointed = waitFrom;
      for await (const batch of walk(root, loc.rules, {
        startAfter,
        exclude,
        batchSize: BATCH,
        stat: (paths, below) => ctx.pool().lstat(paths, below),
        statReady: () => ctx.pool().ready(),
        remote: (req) => ctx.pool().walk(req),
        unstattedFiles: !!ahead,
        // A scope's walk applies the .gitignore files above it, as a walk of the whole location does.
        gitignoreAbove: loc.rules.gitignore && scope !== '' ? ignoresAbove(loc.path, scope, pin) : undefined,
        // A scope is opened from the location's root: nothing above it is followed either.
        below: scope !== '' ? fsPathOf(loc.path, '') : undefined,
        pin,
      })) {
        const diffFrom = performance.now();
        const walkMs = diffFrom - waitFrom;
        const n = batch.entries.length;
        if (!ahead) clock.add('walk', walkMs, n);
        if (changedIn(batch.errors.map((e) => e.code))) throw locationChanged(loc.path);
        for (const e of batch.errors) {
          const path = prefix + e.path;
          errored.push(toKey(path));
        }
        if (batch.errors.length > 0) totals = folders = undefined;
        else if (totals)
          for (const w of batch.entries)
            if (w.isDir) totals.dirs++;
            else if (!ahead && !w.isSymlink && !w.special) {
              totals.files++;
              totals.bytes += w.size;
            }
        ctx.errors(batch.errors.map((e) => ({ ...e, path: prefix + e.path })));
        for (const w of batch.entries) {
          const key = toKey(prefix + w.relPath);
          while (p && p[0] < key) {
            missing(p);
            p = proj.next();
          }
          if (p && p[0] === key) {
            // Unchanged entries (the common case of a rescan) cost a comparison, no tuple.
            const t = w.isSymlink ? SYMLINK : w.isDir ? DIR : w.special ? SPECIAL : FILE;
            if (
              p[1] !== t ||
              p[2] !== (t === SPECIAL ? 0 : w.size) ||
              p[3] !== Math.floor(w.mtimeMs) ||
              p[4] !== Number(w.inode)
            )
              upserts.push(tupleOf(key, w));
            p = proj.next();
          } else if (cp.fresh) {
            upserts.push(tupleOf(key, w));
            if (w.isDir) folders?.folder(key);
          } else cp.pendingNew.push(tupleOf(key, w));
        }
        cp.walked += batch.entries.length;
        if (cp.pendingNew.length > HOLD_LIMIT) upserts.push(...cp.pendingNew.splice(0)); // too many to hold for move matching
        cp.cursor = batch.cursor !== undefined ? toKey(prefix + batch.cursor) : cp.cursor;
        const diffMs = performance.now() - diffFrom;
        if (ahead) {
          if (!rebuild && cp.walked >= bulkFrom) rebuild = withoutCidIndex(ctx.lib, true);
          // Booked when the batch is written, with the checkpoint that counts it.
          // Progress is reported as written (by flush), so a resumed job's never goes back.
          await ahead.push(upserts.splice(0), { ...cp }, () => {
            clock.add('walk', walkMs, n);
            clock.add('diff', diffMs, n);
          });
        } else {
          clock.add('diff', diffMs, n);
          // A batch with nothing to write checkpoints at most once a second (a transaction each
          // was 50 of the 540 ms of an unchanged /usr/lib rescan): a job stopped meanwhile walks
          // again from the last checkpoint, which holds what had been found up to its cursor.
          if (upserts.length > 0 || gone.length > 0 || performance.now() - checkpointed >= 1000) {
            flush(ctx, loc.id, upserts.splice(0), gone.splice(0), [], cp, clock);
            checkpointed = performance.now();
          }
        }
        waitFrom = performance.now();
        if (ctx.signal.aborted) return [cp, undefined];
        await new Promise<void>((r) => setImmediate(r));
      }
      clock.time('diff', 0, () => {
        while (p) {
          missing(p);
          p = proj.next();
        }
      });
      await ahead?.drain();
      flush(ctx, loc.id, [], gone.splice(0), [], { ...cp, cursor: undefined, scopeIdx: cp.scopeIdx + 1 }, clock);
    }
  } finally {
    if (snap.inTransaction) snap.exec('COMMIT');
    snap.close();
    if (rebuild) clock.time('commit', 0, rebuild);
  }
  // Moves: a path that vanished and one that appeared with the same inode (and size, for files).
  const movesFrom = performance.now();
  const { moves, creates, gone } = matchMoves(ctx.lib.db, loc.id, cp.pendingNew, cp.pendingGone);
  const next: IndexCheckpoint = {
    ...cp,
    phase: 'identify',
    cursor: undefined,
    pendingNew: [],
    pendingGone: [],
    walkedTotals: totals,
  };
  clock.add('diff', performance.now() - movesFrom, 0);
  flush(ctx, loc.id, creates, gone, moves, next, clock);
  return [next, folders];
}

/** Appends a batch's events with the checkpoint (and the phase times so far) in one transaction. */
function flush(
  ctx: JobContext,
  loc: string,
  ups: EntryTuple[],
  gone: string[],
  moves: [string, string][],
  cp: IndexCheckpoint,
  clock: PhaseClock,
): void {
  clock.time('commit', ups.length + gone.length + moves.length, () =>
    ctx.commit(
      () => {
        for (const b of inBatches(moves, BATCH, 'entries.moved')) ctx.lib.append('entries.moved', { loc, moves: b });
        for (const b of inBatches(ups, BATCH, 'entries.upserted')) ctx.lib.append('entries.upserted', { loc, e: b });
        for (const b of inBatches(gone, BATCH, 'entries.deleted')) ctx.lib.append('entries.deleted', { loc, keys: b });
      },
      cp.phase,
      { ...cp, times: clock.snapshot() },
      cp.walked,
      null,
    ),
  );
  ctx.progress(cp.phase, cp.walked, null);
}
