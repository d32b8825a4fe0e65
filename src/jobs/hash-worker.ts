// Worker entry for the hash pool: identifies a batch of files and detects their kind, or
// lstat()s a batch of the walker's paths.
import { openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { basename } from 'node:path';
import { createContentHasher } from './content-id.js';
import { KINDS, kindOf, type Kind } from './kind.js';

import type { HashRequest, HashReply, HashedColumns } from './hash-pool.js';
import { lstatColumns } from './walk.js';
import { runRemoteWalk, WALK_AHEAD, type WalkControl } from './walk-remote.js';

const port = parentPort;
if (!port) throw new Error('hash-worker must run inside a worker thread');

const hasherReady = createContentHasher();
const KIND_INDEX = new Map<Kind, number>(KINDS.map((k, i) => [k, i]));
/** A failed file's place in the batch's string of ids (its failure is in `errors`). */
const BLANK_ID = ' '.repeat(32);

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'E_INTERNAL';
}

const walks = new Map<number, WalkControl>();

port.on('message', async (req: HashRequest) => {
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
        const s = part.stats;
        const reply: HashReply = { id: req.id, part };
        port.postMessage(
          reply,
          [s.flags, s.size, s.mtimeMs, s.ino, s.dev].map((a) => a.buffer as ArrayBuffer),
        );
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
    port.postMessage(
      reply,
      [stats.flags, stats.size, stats.mtimeMs, stats.ino, stats.dev].map((a) => a.buffer as ArrayBuffer),
    );
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
  for (let i = 0; i < n; i++) {
    const p = req.paths[i]!;
    try {
      const { contentId, size, head } = hasher.identify(typeof p === 'string' ? p : Buffer.from(p));
      // Kind needs only the display name; a non-UTF-8 name decodes lossily, which is fine here.
      const name = basename(typeof p === 'string' ? p : Buffer.from(p).toString('utf8'));
      // Every id is BLAKE3-128 in hex: 32 characters, the width of its place in the column.
      if (contentId.length !== 32) throw new Error(`content id of ${contentId.length} characters`);
      ids[i] = contentId;
      sizes[i] = size;
      kinds[i] = KIND_INDEX.get(kindOf(name, head))!;
    } catch (e) {
      ids[i] = BLANK_ID;
      errors.push([i, errorCode(e), e instanceof Error ? e.message : String(e)]);
    }
  }
  const reply: HashReply = { id: req.id, hashed: { ids: ids.join(''), sizes, kinds, errors } };
  port.postMessage(reply, [sizes.buffer as ArrayBuffer, kinds.buffer as ArrayBuffer]);
});

// Said once the handler above listens: until then a walk lstats on its own thread.
port.postMessage({ ready: true });
