// Worker entry for the hash pool: identifies a batch of files and detects their kind, or
// lstat()s a batch of the walker's paths.
import { openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { basename } from 'node:path';
import { createContentHasher } from './content-id.js';
import { KINDS, kindOf, type Kind } from './kind.js';

import type { HashRequest, HashReply, HashedColumns, LstatColumns } from './hash-wire.js';
import { lstatColumns } from './walk.js';
import { lstatInto, putStat, statColumns } from './walk-stat.js';
import type { RawStat } from './statx.js';
import { runRemoteWalk, WALK_AHEAD, type WalkControl } from './walk-remote.js';
import { libc } from '../native/libc.js';

const port = parentPort;
if (!port) throw new Error('hash-worker must run inside a worker thread');

const hasherReady = createContentHasher();
const KIND_INDEX = new Map<Kind, number>(KINDS.map((k, i) => [k, i]));
/** A failed file's place in the batch's string of ids (its failure is in `errors`). */
const BLANK_ID = ' '.repeat(32);
const stat: RawStat = { mode: 0, size: 0, mtimeNs: 0n, ino: 0n, dev: 0n };

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'E_INTERNAL';
}

const walks = new Map<number, WalkControl>();

/** The stat columns' buffers, moved to the other thread rather than copied. */
const buffersOf = (s: LstatColumns): ArrayBuffer[] =>
  [s.flags, s.size, s.mtimeMs, s.ino, s.dev].map((a) => a.buffer as ArrayBuffer);

port.on('message', async (req: HashRequest) => {
  if (req.op === 'end') process.exit(0); // ends this thread only, between two messages
  if (req.op === 'more' || req.op === 'stop') {
    const w = walks.get(req.id);
    if (!w) return;
    if (req.op === 'more') w.credit++;
    else w.stopped = true;
    w.wake?.();
    return;
  }
  if (req.op === 'walk') {
    const control: WalkControl = { credit: WALK_AHEAD, stopped: false };
    walks.set(req.id, control);
    try {
      await runRemoteWalk(req.walk, control, (part) => {
        const reply: HashReply = { id: req.id, part };
        port.postMessage(reply, buffersOf(part.stats));
      });
      port.postMessage({ id: req.id } satisfies HashReply);
    } catch (e) {
      port.postMessage({
        id: req.id,
        error: { code: errorCode(e), message: e instanceof Error ? e.message : String(e) },
      } satisfies HashReply);
    } finally {
      walks.delete(req.id);
    }
    return;
  }
  if (req.op === 'lstat') {
    const stats = lstatColumns(req.paths.map((p) => (typeof p === 'string' ? p : Buffer.from(p))));
    const reply: HashReply = { id: req.id, stats };
    port.postMessage(reply, buffersOf(stats));
    return;
  }
  if (req.op !== 'hash') return;
  // Test seam (tests only): SD_TEST_HASH_STALL names a FIFO nobody writes to; opening it for
  // reading blocks this thread in the kernel, as a hung network filesystem would.
  if (process.env.SD_TEST_HASH_STALL) openSync(process.env.SD_TEST_HASH_STALL, 'r');
  const hasher = await hasherReady;
  const n = req.paths.length;
  const ids: string[] = new Array(n);
  const sizes = new Float64Array(n);
  const kinds = new Uint8Array(n);
  const errors: HashedColumns['errors'] = [];
  // Asked with `stat`: each file's attributes too, from the descriptor it was read through, or
  // from an lstat of its path when it could not be hashed (it vanished, is unreadable, or is no
  // longer a regular file).
  const stats = req.stat ? statColumns(n) : undefined;
  for (let i = 0; i < n; i++) {
    const p = req.paths[i]!;
    const path = typeof p === 'string' ? p : Buffer.from(p);
    try {
      const { contentId, size, head } = hasher.identify(path, stats ? stat : undefined);
      if (stats) putStat(stats, i, stat);
      // Kind needs only the display name; a non-UTF-8 name decodes lossily, which is fine here.
      const name = basename(typeof path === 'string' ? path : path.toString('utf8'));
      // Every id is BLAKE3-128 in hex: 32 characters, the width of its place in the column.
      if (contentId.length !== 32) throw new Error(`content id of ${contentId.length} characters`);
      ids[i] = contentId;
      sizes[i] = size;
      kinds[i] = KIND_INDEX.get(kindOf(name, head))!;
    } catch (e) {
      ids[i] = BLANK_ID;
      errors.push([i, errorCode(e), e instanceof Error ? e.message : String(e)]);
      if (stats) lstatInto(stats, i, path);
    }
  }
  const reply: HashReply = { id: req.id, hashed: { ids: ids.join(''), sizes, kinds, errors }, stats };
  const moved = [sizes.buffer as ArrayBuffer, kinds.buffer as ArrayBuffer];
  if (stats) moved.push(...buffersOf(stats));
  port.postMessage(reply, moved);
});

// Said once the handler above listens, and once this thread's native add-ons are in (koffi and
// the BLAKE3 one load as createContentHasher starts, above; libc() says so here whatever that
// order becomes): until then a walk lstats on its own thread, and a closing pool does not
// terminate this one (hash-pool.ts, LOAD_MS).
libc();
port.postMessage({ ready: true });
