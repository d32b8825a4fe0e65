// The `transfer` job: the receiving side of `sd cp --device` and of an accepted inbox drop. It
// lists what the source holds now, fetches every file into `<location>/.vdfs-partial/<job>/`
// (hidden, never indexed), then places the items with one file operation (intent, rename,
// index events) and verifies them (place.ts). Its checkpoint holds what is verified and synced,
// so a cut link, a pause, a restart or a kill -9 of either side resumes from the last verified
// chunk; a link that drops is waited for (bounded by the job's signal).
import { relative, sep } from 'node:path';
import type { PreviewHost } from '../ops/host.js';
import type { Transfers } from './service.js';
import { checkLocationFolder } from '../jobs/location-folder.js';
import { SdError } from '../errors.js';
import { codeOf } from '../error-codes.js';
import type { JobContext } from '../jobs/context.js';
import type { Port } from './port.js';
import type { ListedItem } from './protocol.js';
import { Progress } from './status.js';
import { cleanPartials, placeAndVerify } from './place.js';
import { fetchAll } from './fetch-phase.js';
import { PARTIAL_DIR } from './source.js';

export interface TransferItem {
  /** The path on the source device. */
  src: string;
  /** Where it goes here (absolute), its key in the destination location. */
  dest: string;
  key: string;
  /** The old item at `dest` goes to the trash (--on-conflict overwrite). */
  overwrite: boolean;
}

export interface TransferInput {
  via: 'pull' | 'inbox';
  command: string;
  peer: string;
  peerName: string;
  lib: string;
  root: string;
  loc: string;
  grant?: string;
  drop?: string;
  items: TransferItem[];
}

export interface TransferCheckpoint {
  phase: 'list' | 'fetch' | 'place' | 'done';
  lists: ListedItem[][];
  /** `item/rel` -> the source's BLAKE3 of the whole file, for files fetched and synced. */
  done: Record<string, string>;
  /** `item/rel` -> chunks verified and synced to disk. */
  partial: Record<string, number>;
  received: number;
  refused: number;
}

/** What a transfer job reads of the daemon (the Core satisfies it; nothing here imports it). */
export interface TransferJobHost extends PreviewHost {
  readonly transfers: Transfers | undefined;
  /** The watcher of the destination's location leaves what the transfer writes alone. */
  readonly jobs: PreviewHost['jobs'] & {
    hold(loc: string, path: string): void;
    release(loc: string, path: string): void;
  };
}

/** The job runner; the JobManager calls it with the job's context (transfer is its kind). */
export function transferRunner(core: TransferJobHost): (ctx: JobContext) => Promise<void> {
  return (ctx) => runTransfer(core, ctx);
}

async function runTransfer(core: TransferJobHost, ctx: JobContext): Promise<void> {
  const input = ctx.job.input as TransferInput;
  const tx = core.transfers;
  if (!tx) throw new SdError('E_SERVICES_OFF', 'this core runs without its services');
  const cp: TransferCheckpoint = (ctx.job.checkpoint as TransferCheckpoint | null) ?? {
    phase: 'list',
    lists: [],
    done: {},
    partial: {},
    received: 0,
    refused: 0,
  };
  const progress = tx.board.open(new Progress(ctx.job.id, 'in', input.peer, input.lib, 0, 0));
  // The location's watcher leaves the partial folder and the places of the items alone: what lands
  // there is indexed by the transfer's own events, never by a rescan racing them.
  const held = [`${PARTIAL_DIR}/${ctx.job.id}`, ...input.items.map((it) => relative(input.root, it.dest))];
  for (const p of held) core.jobs.hold(input.loc, p.split(sep).join('/'));
  try {
    // Never into a folder put at the location's path, or a bare mount point (location-folder.ts).
    const loc = { id: input.loc, path: input.root };
    checkLocationFolder(ctx.lib.db, loc);
    cleanPartials(ctx.lib, input.root, ctx.job.id, false);
    if (cp.phase === 'list') {
      progress.state = 'listing';
      cp.lists = await listAll(tx, input, ctx.signal, (w) => (progress.state = w));
      cp.phase = 'fetch';
      ctx.commit(() => undefined, 'fetch', cp, 0, totals(cp).bytes);
    }
    const { files, bytes } = totals(cp);
    progress.bytesTotal = bytes;
    progress.files = files;
    if (cp.phase === 'fetch') {
      await fetchAll(core, ctx, input, cp, progress);
      if (ctx.signal.aborted) return;
      cp.phase = 'place';
      ctx.commit(() => undefined, 'place', cp, bytes, bytes);
    }
    if (cp.phase === 'place') {
      // Checked again: the fetch can take long enough for a disk to be taken away.
      checkLocationFolder(ctx.lib.db, loc);
      progress.state = 'verifying';
      await placeAndVerify(core, ctx, input, cp);
    }
  } catch (e) {
    if (ctx.signal.aborted) return;
    // The partial copy goes (nothing half-written stays behind); the code leads the job's message.
    cleanPartials(ctx.lib, input.root, ctx.job.id, true);
    if (input.drop) core.transfers?.dropEnded(ctx.lib, input.drop, 'failed');
    const code = e instanceof SdError ? e.code : ((e as { code?: string }).code ?? 'E_INTERNAL');
    throw new Error(`${code}: ${(e as Error).message}`);
  } finally {
    for (const p of held) core.jobs.release(input.loc, p.split(sep).join('/'));
    tx.board.close(progress);
    // Stopped: once the manager has recorded why, a cancelled job's partial copy goes (a paused
    // one is live and stays). Kept out of the manager so its rewrite needs nothing of ours.
    if (ctx.signal.aborted) setTimeout(() => sweepPartials(ctx, input.root), 200).unref();
  }
}

function sweepPartials(ctx: JobContext, root: string): void {
  try {
    if (ctx.lib.db.open) cleanPartials(ctx.lib, root, '', false);
  } catch {
    // closed meanwhile: the next transfer into this location sweeps
  }
}

function totals(cp: TransferCheckpoint): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const l of cp.lists)
    for (const it of l)
      if (it[1] === 0) {
        files++;
        bytes += it[2];
      }
  return { files, bytes };
}

/** The listing of every item; a link that closes meanwhile is waited for and the listing asked again. */
async function listAll(
  tx: Transfers,
  input: TransferInput,
  signal: AbortSignal,
  waiting: (why: string) => void,
): Promise<ListedItem[][]> {
  for (;;) {
    const port = await tx.portTo(input.peer, signal, waiting);
    try {
      const lists: ListedItem[][] = [];
      for (const it of input.items) lists.push(await listOf(port, input, it.src, signal));
      return lists;
    } catch (e) {
      if (!(e instanceof SdError && e.code === 'E_LINK_CLOSED') || signal.aborted) throw e;
    }
  }
}

function listOf(port: Port, input: TransferInput, path: string, signal: AbortSignal): Promise<ListedItem[]> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      req.end();
      reject(signal.reason);
    };
    const settle = (fn: () => void): void => {
      req.end();
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const req = port.request(
      { t: 'list', lib: input.lib, path, grant: input.grant },
      (a) => {
        if ('t' in a && a.t === 'listing') settle(() => resolve(a.items as ListedItem[]));
        else if ('t' in a && a.t === 'fail') settle(() => reject(new SdError(codeOf(a.code, 'E_REFUSED'), a.message)));
      },
      (e) => settle(() => reject(e)),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
