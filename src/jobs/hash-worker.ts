// Worker entry for the hash pool: identifies a batch of files and detects their kind, or
// lstat()s a batch of the walker's paths.
import { openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { basename } from 'node:path';
import { createContentHasher } from './content-id.js';
import { kindOf } from './kind.js';
import type { HashRequest, HashReply, WorkerResult } from './hash-pool.js';
import { lstatColumns } from './walk.js';
import { runRemoteWalk, WALK_AHEAD, type WalkControl } from './walk-remote.js';

const port = parentPort;
if (!port) throw new Error('hash-worker must run inside a worker thread');

const hasherReady = createContentHasher();

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
  const results: WorkerResult[] = new Array(req.paths.length);
  for (let i = 0; i < req.paths.length; i++) {
    const p = req.paths[i]!;
    try {
      const { contentId, size, head } = hasher.identify(typeof p === 'string' ? p : Buffer.from(p));
      // Kind needs only the display name; a non-UTF-8 name decodes lossily, which is fine here.
      const name = basename(typeof p === 'string' ? p : Buffer.from(p).toString('utf8'));
      results[i] = { contentId, size, kind: kindOf(name, head) };
    } catch (e) {
      results[i] = { error: { code: errorCode(e), message: e instanceof Error ? e.message : String(e) } };
    }
  }
  const reply: HashReply = { id: req.id, results };
  port.postMessage(reply);
});

// Said once the handler above listens: until then a walk lstats on its own thread.
port.postMessage({ ready: true });
