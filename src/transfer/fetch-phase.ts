// The transfer job's fetch phase (job.ts runs the phases): every file not fetched yet goes into
// the job's partial folder, a chunk verified at a time, up to 16 files at once; a checkpoint each
// second holds what is verified and synced, so a cut link, a pause or a restart goes on from
// there. A link that drops is waited for (bounded by the job's signal).
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
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SdError } from '../errors.js';
import { userMode } from '../fsutil.js';
import type { JobContext } from '../jobs/context.js';
import { fsPathOf } from '../jobs/names.js';
import { fsError } from '../ops/entry/confine.js';
import { releaseBeforeWork } from '../daemon/memory.js';
import { fetchFile } from './fetch.js';
import type { Port } from './port.js';
import { CHUNK, chunksOf, type ListedItem } from './protocol.js';
import type { Progress } from './status.js';
import { identifiable, remember, rememberFromDisk } from './ident.js';
import { contentIdOfBytes } from '../jobs/content-id.js';
import { partialRoot } from './place.js';
import { runParallel } from './parallel.js';
import { syncFiles } from './durable.js';
import type { TransferCheckpoint, TransferInput, TransferJobHost } from './job.js';

const syncAsync = promisify(fdatasync);
const openAsync = promisify(open);
const timesAsync = promisify(futimes);
const chmodAsync = promisify(fchmod);
const CHECKPOINT_MS = 1000;

const fileKey = (i: number, rel: string): string => `${i}/${rel}`;

/** Fetches every file not done yet; a link that drops is waited for and the fetch goes on. */
export async function fetchAll(
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
