// Worker entry for the hash pool: identifies a batch of files and detects their kind, or
// lstat()s a batch of the walker's paths.
import { openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { basename } from 'node:path';
import { createContentHasher, KIND_HEAD_SIZE } from './content-id.js';
import { batchReads } from './io-batch.js';
import { KINDS, kindOf, type Kind } from './kind.js';

import type { HashRequest, HashReply, HashedColumns, LstatColumns } from './hash-wire.js';
import { lstatColumns } from './walk.js';
import { lstatBelow, lstatInto, putStat, statColumns, statInto } from './walk-stat.js';
import { beneath, checkPin, closeRoot, openRoot, relOfKey, type Beneath, type RootPin } from './beneath.js';
import { fsPathOf, fsPathOfAbs } from './names.js';
import { SEP, toPath } from '../projections/entries.js';
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

/** A path as it crossed threads (bytes arrive as a Uint8Array) in the form fs calls take. */
const fsForm = (p: string | Uint8Array): string | Buffer => (typeof p === 'string' ? p : Buffer.from(p));

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
  if (req.op === 'lstat' || req.op === 'lstatBelow') {
    const paths = req.paths.map(fsForm);
    const stats =
      req.op === 'lstatBelow'
        ? lstatBelow(fsForm(req.top), req.rels.map(fsForm), paths, undefined, req.pin)
        : lstatColumns(paths);
    const reply: HashReply = { id: req.id, stats };
    port.postMessage(reply, buffersOf(stats));
    return;
  }
  if (req.op !== 'hash' && req.op !== 'hashKeys') return;
  // Test seam (tests only): SD_TEST_HASH_STALL names a FIFO nobody writes to; opening it for
  // reading blocks this thread in the kernel, as a hung network filesystem would.
  if (process.env.SD_TEST_HASH_STALL) openSync(process.env.SD_TEST_HASH_STALL, 'r');
  const hasher = await hasherReady;
  const reply =
    req.op === 'hashKeys'
      ? hashKeys(hasher, req.root, req.keys, !!req.stat, req.pin)
      : hashBatch(pathBatch(hasher, req.paths), !!req.stat);
  const { stats, ...hashed } = reply;
  const moved = [hashed.sizes.buffer as ArrayBuffer, hashed.kinds.buffer as ArrayBuffer];
  if (stats) moved.push(...buffersOf(stats));
  port.postMessage({ id: req.id, hashed, stats } satisfies HashReply, moved);
});

/** A batch's results, and with `stats` each file's attributes (from its descriptor, or an lstat). */
interface Columns extends HashedColumns {
  stats: LstatColumns | undefined;
}

/** A file's id, size, and first bytes (for its kind; possibly a view valid until the next file). */
type Identity = { contentId: string; size: number; head: Uint8Array };

/** The files of one batch: how each is named, opened and identified, and lstat'ed when it could not be. */
interface Batch {
  readonly n: number;
  /** Its display name, for its kind (a non-UTF-8 name may decode lossily: fine for a kind). */
  name(i: number): string;
  identify(i: number, st: RawStat | undefined): Identity;
  lstat(out: LstatColumns, i: number): void;
}

function hashBatch(batch: Batch, withStat: boolean): Columns {
  const n = batch.n;
  const ids: string[] = new Array(n);
  const sizes = new Float64Array(n);
  const kinds = new Uint8Array(n);
  const errors: HashedColumns['errors'] = [];
  const stats = withStat ? statColumns(n) : undefined;
  for (let i = 0; i < n; i++) {
    try {
      const { contentId, size, head } = batch.identify(i, stats ? stat : undefined);
      if (stats) putStat(stats, i, stat);
      // Every id is BLAKE3-128 in hex: 32 characters, the width of its place in the column.
      if (contentId.length !== 32) throw new Error(`content id of ${contentId.length} characters`);
      ids[i] = contentId;
      sizes[i] = size;
      kinds[i] = KIND_INDEX.get(kindOf(batch.name(i), head))!;
    } catch (e) {
      ids[i] = BLANK_ID;
      errors.push([i, errorCode(e), e instanceof Error ? e.message : String(e)]);
      if (stats) batch.lstat(stats, i);
    }
  }
  return { ids: ids.join(''), sizes, kinds, errors, stats };
}

type Hasher = Awaited<typeof hasherReady>;

/** Files by path (asked with `stat`: each file's attributes too, from its descriptor or an lstat). */
function pathBatch(hasher: Hasher, paths: Array<string | Uint8Array>): Batch {
  const fs = paths.map(fsForm);
  return {
    n: fs.length,
    name: (i) => {
      const p = fs[i]!;
      return basename(typeof p === 'string' ? p : p.toString('utf8'));
    },
    identify: (i, st) => hasher.identify(fs[i]!, st),
    lstat: (out, i) => lstatInto(out, i, fs[i]!),
  };
}

/**
 * A location's files by entry key, below its root: through openat2 from the root's descriptor (no
 * symlink followed anywhere below it) when `at` gives both, by path otherwise.
 */
function keyBatch(hasher: Hasher, root: string, keys: string[], at?: { b: Beneath; rootFd: number }): Batch {
  const name = (i: number): string => {
    const k = keys[i]!;
    return k.slice(k.lastIndexOf(SEP) + 1);
  };
  if (!at) {
    const path = (i: number): string | Buffer => fsPathOf(root, toPath(keys[i]!));
    return {
      n: keys.length,
      name,
      identify: (i, st) => hasher.identify(path(i), st),
      lstat: (out, i) => lstatInto(out, i, path(i)),
    };
  }
  // Read a batch at a time in one C call where it can be (io-batch.ts); a file it did not read whole
  // is identified by itself, which gives the error a user sees (or the id, had a race passed).
  const reads = batchReads()?.(at.rootFd, keys.map(relOrUndefined));
  return {
    n: keys.length,
    name,
    identify(i, st) {
      if (!reads?.file(i)) return hasher.identifyAt(at.rootFd, relOfKey(keys[i]!), st);
      if (st) reads.stat(st);
      return {
        contentId: reads.id() ?? hasher.idOfPrefixed(reads.prefixed()),
        size: reads.idSize(),
        head: reads.head(KIND_HEAD_SIZE),
      };
    },
    lstat: (out, i) => statInto(out, i, (st) => at.b.lstat(at.rootFd, relOfKey(keys[i]!), st)),
  };
}

/** A key's path below the root, or undefined for a key that names none (identifyAt then says so). */
function relOrUndefined(key: string): string | Buffer | undefined {
  try {
    return relOfKey(key);
  } catch {
    return undefined;
  }
}

/** Every file of the batch failed with `e` (its root could not be opened: an unplugged drive), as each open by path would. */
function failedBatch(n: number, e: unknown): Batch {
  const fail = (): never => {
    throw e;
  };
  return { n, name: () => '', identify: fail, lstat: (out, i) => statInto(out, i, fail) };
}

function hashKeys(hasher: Hasher, root: string, joined: string, withStat: boolean, pin?: RootPin): Columns {
  const keys = joined === '' ? [] : joined.split('\0');
  const b = beneath();
  // The root opened below which each file is (without openat2: the pin checked by path, then files by path).
  let rootFd = -1;
  try {
    if (b) rootFd = openRoot(fsPathOfAbs(root), pin);
    else checkPin(fsPathOfAbs(root), pin);
  } catch (e) {
    return hashBatch(failedBatch(keys.length, e), withStat);
  }
  try {
    return hashBatch(keyBatch(hasher, root, keys, b && { b, rootFd }), withStat);
  } finally {
    if (rootFd >= 0) closeRoot(rootFd);
  }
}

// Said once the handler above listens, and once this thread's native add-ons are in (koffi and
// the BLAKE3 one load as createContentHasher starts, above; libc() says so here whatever that
// order becomes): until then a walk lstats on its own thread, and a closing pool does not
// terminate this one (hash-pool.ts, LOAD_MS).
libc();
port.postMessage({ ready: true });
