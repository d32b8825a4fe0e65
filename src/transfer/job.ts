// The `transfer` job: the receiving side of `sd cp --device` and of an accepted inbox drop. It
// lists what the source holds now, fetches every file into `<location>/.vdfs-partial/<job>/`
// (hidden, never indexed), then places the items with one file operation (intent, rename,
// index events) and verifies them (place.ts). Its checkpoint holds what is verified and synced,
// so a cut link, a pause, a restart or a kill -9 of either side resumes from the last verified
// chunk; a link that drops is waited for (bounded by the job's signal).
import {
  closeSync,
  constants as C,
  fdatasync,
  fdatasyncSync,
  fchmod,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  futimes,
  futimesSync,
  mkdirSync,
  open,
} from 'node:fs';
import { setMaxListeners } from 'node:events';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import type { PreviewHost } from '../ops/host.js';
import type { Transfers } from './service.js';
import { checkLocationFolder } from '../jobs/location-folder.js';
import { SdError } from '../errors.js';
import { codeOf } from '../error-codes.js';
import { userMode } from '../fsutil.js';
import type { JobContext } from '../jobs/context.js';
import { fsPathOf } from '../jobs/names.js';
import { fsError } from '../ops/entry/confine.js';
import { releaseBeforeWork } from '../daemon/memory.js';
import { fetchFile } from './fetch.js';
import type { Port } from './port.js';
import { CHUNK, chunksOf, type ListedItem } from './protocol.js';
import { Progress } from './status.js';
import { identifiable, remember, rememberFromDisk } from './ident.js';
import { contentIdOfBytes } from '../jobs/content-id.js';
import { cleanPartials, partialRoot, placeAndVerify } from './place.js';
import { runParallel } from './parallel.js';
import { syncFiles } from './durable.js';
import { PARTIAL_DIR } from './source.js';

const syncAsync = promisify(fdatasync);
const openAsync = promisify(open);
const timesAsync = promisify(futimes);
const chmodAsync = promisify(fchmod);
const CHECKPOINT_MS = 1000;

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

const fileKey = (i: number, rel: string): string => `${i}/${rel}`;

/** The job runner; the JobManager calls it with the job's context (transfer is its kind). */
/** What a transfer job reads of the daemon (the Core satisfies it; nothing here imports it). */
export interface TransferJobHost extends PreviewHost {
  readonly transfers: Transfers | undefined;
  /** The watcher of the destination's location leaves what the transfer writes alone. */
  readonly jobs: PreviewHost['jobs'] & {
    hold(loc: string, path: string): void;
    release(loc: string, path: string): void;
  };
}

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

/** Fetches every file not done yet; a link that drops is waited for and the fetch goes on. */
async function fetchAll(
  core: TransferJobHost,
  ctx: JobContext,
  input: TransferInput,
  cp: TransferCheckpoint,
  progress: Progress,
): Promise<void> {
  const tx = core.transfers!;
  // The fetch is the receiver's peak (10,000 files: 30-80 MiB above where it starts): it starts
  // from the daemon's floor, not from what the sync or index before it left (glibc's heap).
  releaseBeforeWork();
  setMaxListeners(64, ctx.signal); // one listener per file in flight (16) and the waits
  const tmp = partialRoot(ctx.lib, input.root, ctx.job.id);
  const todo: { i: number; it: ListedItem }[] = [];
  let doneBytes = 0;
  cp.lists.forEach((list, i) => {
    for (const it of list) {
      const p = fsPathOf(join(tmp, String(i)), it[0]);
      if (it[1] === 1) {
        try {
          mkdirSync(p, 0o700);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, String(p));
        }
      } else if (cp.done[fileKey(i, it[0])]) doneBytes += it[2];
      else {
        todo.push({ i, it });
        doneBytes += Math.min(it[2], (cp.partial[fileKey(i, it[0])] ?? 0) * CHUNK);
      }
    }
  });
  progress.bytesDone = doneBytes;
  progress.filesDone = Object.keys(cp.done).length;
  /** Open files: fd and chunks verified so far (in this process: on disk, maybe not synced yet). */
  const open = new Map<string, { fd: number; verified: number }>();
  /** Files fetched whole, not yet known to be on disk: done at the next checkpoint (durable.ts). */
  const unsynced = new Map<string, { hash: string; path: string | Buffer }>();
  let lastCheckpoint = Date.now();
  let checkpointing: Promise<void> | undefined;
  const checkpoint = async (): Promise<void> => {
    const at = [...open.entries()].map(([k, f]) => [k, f.fd, f.verified] as const);
    const whole = [...unsynced.entries()];
    await Promise.all(at.map(([, fd]) => syncAsync(fd).catch(() => undefined)));
    await syncFiles(
      tmp,
      whole.map(([, w]) => w.path),
    );
    for (const [k, w] of whole) {
      cp.done[k] = w.hash;
      unsynced.delete(k);
    }
    for (const [k, , v] of at) if (open.has(k)) cp.partial[k] = v;
    ctx.commit(() => undefined, 'fetch', cp, progress.bytesDone, progress.bytesTotal);
    lastCheckpoint = Date.now();
  };
  const maybeCheckpoint = (): void => {
    ctx.progress('fetch', progress.bytesDone, progress.bytesTotal);
    if (checkpointing || Date.now() - lastCheckpoint < CHECKPOINT_MS) return;
    checkpointing = checkpoint()
      .catch(() => undefined) // tried again at the next one, and for good at the end
      .finally(() => (checkpointing = undefined));
  };
  const fetchOne = async (port: Port, i: number, it: ListedItem): Promise<void> => {
    const key = fileKey(i, it[0]);
    const path = fsPathOf(join(tmp, String(i)), it[0]);
    // A file of one chunk is written, stamped and closed with blocking calls: each is a few
    // microseconds in the page cache, where a round trip through the thread pool costs the event
    // loop several times that (bench/transfer.ts, 10,000 files). Bigger files stay asynchronous.
    const small = it[2] <= CHUNK;
    let fd: number;
    try {
      const flags = C.O_RDWR | C.O_CREAT | C.O_NOFOLLOW;
      // Creating a file waits for the file system's journal while a sync runs (a checkpoint's
      // syncfs): that wait stays in the thread pool, off the event loop.
      fd = await openAsync(path, flags, 0o600);
    } catch (e) {
      throw fsError(e, String(path));
    }
    const from = Math.min(cp.partial[key] ?? 0, chunksOf(it[2]));
    const f = { fd, verified: from };
    open.set(key, f);
    try {
      // What was written but never verified and synced goes. A new file is left alone: on ext4 a
      // truncation to 0 makes its close start the write-back (auto_da_alloc), a stall per file.
      const keep = Math.min(it[2], from * CHUNK);
      if (fstatSync(fd).size !== keep) ftruncateSync(fd, keep);
      const src = it[0] === '' ? input.items[i]!.src : `${input.items[i]!.src}/${it[0]}`;
      const hash = await fetchFile(
        port,
        { lib: input.lib, path: src, grant: input.grant, size: it[2], mtime: it[3], ino: it[4] },
        fd,
        from,
        {
          written: (_idx, n) => {
            f.verified++;
            progress.add(n);
            maybeCheckpoint();
          },
          received: (n) => {
            cp.received += n;
            tx.board.bytes.received += n;
          },
          refused: () => cp.refused++,
          whole: async (data) => {
            if (identifiable(data.length)) remember(ctx.job.id, key, await contentIdOfBytes(data), data);
          },
        },
        tx.receiveLimit,
        ctx.signal,
        small,
      );
      if (!identifiable(it[2])) await rememberFromDisk(ctx.job.id, key, path);
      if (small) {
        fchmodSync(fd, userMode(it[5] & 0o777));
        futimesSync(fd, new Date(), new Date(it[3]));
      } else {
        await chmodAsync(fd, userMode(it[5] & 0o777));
        await timesAsync(fd, new Date(), new Date(it[3]));
      }
      open.delete(key);
      delete cp.partial[key];
      unsynced.set(key, { hash, path });
      progress.filesDone++;
      progress.current = src;
    } catch (e) {
      // What was verified stays (synced first): the next link goes on from there.
      try {
        fdatasyncSync(fd);
        cp.partial[key] = f.verified;
      } catch {
        cp.partial[key] ??= from;
      }
      throw e instanceof SdError || (e as { name?: string }).name === 'AbortError' ? e : fsError(e, String(path));
    } finally {
      open.delete(key);
      try {
        closeSync(fd);
      } catch {
        // closed
      }
    }
  };
  while (todo.length) {
    if (ctx.signal.aborted) break;
    progress.state = 'waiting for a link';
    const port = await tx.portTo(input.peer, ctx.signal, (w) => (progress.state = w));
    progress.state = 'receiving';
    const failed = await runParallel(todo, (x) => fetchOne(port, x.i, x.it), ctx.signal);
    if (!failed || ctx.signal.aborted) break;
    // A closed link: wait for the next one and go on from what is verified; anything else ends the job.
    if (!(failed instanceof SdError && failed.code === 'E_LINK_CLOSED')) throw failed;
  }
  await checkpointing;
  if (!ctx.signal.aborted) await checkpoint();
  else await checkpoint().catch(() => undefined);
}
