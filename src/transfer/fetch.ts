// The receiving side of one file: asks for its chunks from the last verified one on, checks each
// chunk as it arrives (a bad one is refused and asked for again: the damage is caught at the chunk,
// not at the end), writes it at its place in the temporary file and gives the sender credit for
// the next one. Each chunk carries the BLAKE3 of the file's bytes from its start through that
// chunk (link protocol 6): one hasher fed the bytes written, in order (a resumed file first with
// the verified part already on disk), checks every chunk with a digest of its state, and its last
// digest is the file's, checked at the end against the BLAKE3 the source computed over the whole
// file: resolves with that hash only if they agree. Each byte is hashed once, not twice.
// A refused chunk went into the hasher, whose state the native BLAKE3 cannot copy or roll back:
// the file is then asked for again from its start, and the part verified before is hashed as it
// comes back (not written again, and it must reach the digest it had), never read back from disk.
// The receiver's work for a refusal is thus what the source sends, under credit and off the disk.
import { readSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { SdError } from '../errors.js';
import { codeOf } from '../error-codes.js';
import { createBlake3, type Blake3 } from '../jobs/blake3.js';
import type { RateLimit } from './limit.js';
import type { Answer, Port } from './port.js';
import { CHUNK, chunksOf, isChunk, WINDOW } from './protocol.js';
import { dropCached, DROP_LAG, startWriteback } from './durable.js';

const writeAsync = promisify(write);
/** Refused chunks of one file before the transfer gives up on the peer. */
const MAX_REFUSED = 8;
/** Credit goes back in steps of this many chunks (of the WINDOW in flight). */
const CREDIT_EVERY = 4;
/** Blocking chunk writes slower than this (three in a row) make the rest of the file's asynchronous. */
const SLOW_WRITE_MS = 100;

/** A file of one chunk is hashed in one synchronous step (init, update, digest), so one hasher serves all. */
let chunkHasher: Blake3 | undefined;

export interface FileWant {
  lib: string;
  path: string;
  grant?: string;
  size: number;
  mtime: number;
  ino: number;
}

export interface FetchHooks {
  /** A chunk was verified and written (index, bytes). */
  written(index: number, bytes: number): void;
  /** Bytes that arrived over the link (verified or not). */
  received(bytes: number): void;
  /** A chunk whose BLAKE3 did not match was refused. */
  refused(index: number): void;
  /** A small file arrived whole in one verified chunk (its bytes, for its content id). */
  whole?(data: Uint8Array): Promise<void> | void;
}

/** A chunk was refused: the file is asked for again from its start. */
class Refetch {}

/** Fetches chunks `from`.. of a file into `fd`; resolves with the source's BLAKE3 of the whole file. */
export async function fetchFile(
  port: Port,
  want: FileWant,
  fd: number,
  from: number,
  hooks: FetchHooks,
  limit: RateLimit,
  signal: AbortSignal,
  /** Write with blocking calls (a small file: cheaper than a round trip through the thread pool). */
  sync = false,
): Promise<string> {
  const hasher = (chunkHasher ??= await createBlake3(256));
  // A file of one chunk sent whole: its chunk's BLAKE3 is the file's (as on the source).
  const file: WholeHash = {
    h: chunksOf(want.size) > 1 || from > 0 ? await createBlake3(256) : undefined,
    one: '',
    held: from,
    heldHash: '',
  };
  // A resume: the part verified before it is hashed back from disk, once.
  if (file.h) hashWritten(fd, from, want, file.h);
  if (file.h && from > 0) file.heldHash = file.h.digest();
  let refused = 0;
  for (;;) {
    try {
      const hash = await attempt(port, want, fd, from, hooks, limit, signal, hasher, sync, file);
      const got = file.h ? file.h.digest() : file.one;
      if (got !== hash)
        throw new SdError(
          'E_VERIFY_FAILED',
          `${want.path}: the bytes written here hash to ${got.slice(0, 16)}…, not the source's ${hash.slice(0, 16)}…`,
        );
      return hash;
    } catch (e) {
      if (!(e instanceof Refetch)) throw e;
      if (++refused > MAX_REFUSED)
        throw new SdError('E_CHUNK_REFUSED', `${refused} chunks of ${want.path} failed verification; giving up`);
      // The hasher took the refused chunk: it starts again with the file, the held part replayed by the source.
      file.h?.init();
      from = 0;
    }
  }
}

/** The BLAKE3 of the bytes written, in order: a hasher, or (a file of one chunk) that chunk's hash. */
interface WholeHash {
  h: Blake3 | undefined;
  one: string;
  /** Chunks verified and on disk: after a refusal they arrive again, are hashed and checked, not written. */
  held: number;
  /** The digest through the held chunks: a replay must reach it again (the same bytes as on disk). */
  heldHash: string;
}

/** Feeds `h` the first `chunks` chunks of the partial file (verified before a resume), read back from disk. */
function hashWritten(fd: number, chunks: number, want: FileWant, h: Blake3): void {
  const end = Math.min(want.size, chunks * CHUNK);
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, end)));
  for (let pos = 0; pos < end;) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n === 0)
      throw new SdError('E_VERIFY_FAILED', `${want.path}: the partial copy is shorter than the chunks verified`);
    h.update(buf.subarray(0, n));
    pos += n;
  }
}

function attempt(
  port: Port,
  want: FileWant,
  fd: number,
  from: number,
  hooks: FetchHooks,
  limit: RateLimit,
  signal: AbortSignal,
  hasher: Blake3,
  sync: boolean,
  file: WholeHash,
): Promise<string> {
  const n = chunksOf(want.size);
  let next = from;
  /**
   * Chunks are written with blocking calls: into the page cache a 1 MiB write is a fraction of a
   * millisecond, and an asynchronous one kept each chunk alive across a round trip through the
   * thread pool, long enough for V8 to move the chunks queued behind it to its old generation,
   * which only a full collection frees: 3-5 s of garbage collection per GiB on the receiver.
   */
  let blocking = true;
  let slow = 0;
  /** Chunks the source may send so far: the first credit, then one per chunk written. */
  let credited = from + WINDOW;
  /** Chunks written since the last credit was sent. */
  let owed = 0;
  let chain = Promise.resolve();
  return new Promise<string>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      req.end();
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const stop = (): void => {
      try {
        port.send({ t: 'stop', rid: req.rid });
      } catch {
        // closed
      }
    };
    const onAbort = (): void => {
      stop();
      finish(() => reject(signal.reason ?? new SdError('E_ABORTED', 'stopped')));
    };
    const writeChunk = async (index: number, data: Uint8Array, len: number): Promise<void> => {
      let off = 0;
      const t0 = performance.now();
      while (off < len)
        off += blocking
          ? writeSync(fd, data, off, len - off, index * CHUNK + off)
          : (await writeAsync(fd, data, off, len - off, index * CHUNK + off)).bytesWritten;
      // A file of several chunks goes to the disk as it arrives (durable.ts): the checkpoint's
      // fdatasync then finds little to write and no longer stalls the blocking writes behind it.
      if (blocking && n > 1) {
        startWriteback(fd, index * CHUNK, len);
        // and the chunk whose write-back started DROP_LAG chunks ago leaves the page cache,
        // its pages reused by the next chunks instead of new ones (durable.ts).
        if (index >= DROP_LAG) dropCached(fd, (index - DROP_LAG) * CHUNK, CHUNK);
      }
      // A disk that makes a blocking write wait (write-back throttled) gets the thread pool for
      // the rest of the file: the event loop also carries the feed and the other channels.
      // (Three in a row: one slow call can be this process preempted on a busy machine.)
      if (blocking && !sync) slow = performance.now() - t0 > SLOW_WRITE_MS ? slow + 1 : 0;
      if (slow >= 3) blocking = false;
    };
    const handle = async (a: Answer): Promise<void> => {
      if (done) return;
      if (!isChunk(a)) {
        if (a.t === 'end') {
          if (next !== n)
            return finish(() =>
              reject(new SdError('E_BAD_FRAME', `${want.path}: the source ended after ${next} of ${n} chunks`)),
            );
          return finish(() => resolve(a.hash));
        }
        if (a.t === 'fail') return finish(() => reject(new SdError(codeOf(a.code, 'E_CHUNK_REFUSED'), a.message)));
        if (a.t === 'prefix') {
          // The part held here (hashed back from disk) against the source's: told apart from a bad chunk.
          if (next !== from || from === 0 || !file.h)
            return finish(() => reject(new SdError('E_BAD_FRAME', `${want.path}: a prefix hash out of place`)));
          if (file.h.digest() !== a.hash)
            return finish(() =>
              reject(
                new SdError(
                  'E_VERIFY_FAILED',
                  `${want.path}: the ${from} chunk(s) received before no longer hash to the source's bytes (changed on disk here)`,
                ),
              ),
            );
        }
        return;
      }
      hooks.received(a.data.length);
      const len = Math.min(CHUNK, want.size - a.index * CHUNK);
      // The chunk that comes next, of its length: its bytes follow the verified ones in the hash.
      const inPlace = a.index === next && a.data.length === len;
      let digest = '';
      if (inPlace && file.h) {
        file.h.update(a.data);
        digest = file.h.digest();
      } else if (inPlace) {
        hasher.init();
        hasher.update(a.data);
        digest = hasher.digest();
      }
      if (!inPlace || digest !== Buffer.from(a.hash).toString('hex')) {
        hooks.refused(a.index);
        stop();
        return finish(() => reject(new Refetch()));
      }
      const replayed = a.index < file.held;
      // Sent again, the part held here hashes otherwise: the source's bytes there are not those on disk.
      if (a.index === file.held - 1 && digest !== file.heldHash) {
        stop();
        return finish(() =>
          reject(
            new SdError(
              'E_SOURCE_CHANGED',
              `${want.path}: the source sent other bytes for the ${file.held} chunk(s) already received (it changed there)`,
            ),
          ),
        );
      }
      next++;
      // A replay of a held chunk (after a refusal) only moved the hasher on: its bytes are on disk.
      if (!replayed) {
        // Verified and in order: these are the bytes written next.
        if (!file.h) file.one = digest;
        if (n === 1 && from === 0) await hooks.whole?.(a.data);
        await writeChunk(a.index, a.data, len);
        file.held = a.index + 1;
        file.heldHash = digest;
        hooks.written(a.index, len);
      }
      if (done) return;
      await limit.take(len, signal).catch(() => undefined);
      // More credit only while chunks remain uncredited (a small file needs none), given a few
      // chunks at a time: each credit is a write on the link, and a small write costs the
      // receiver about what a chunk's decryption does. Under a bandwidth limit, each chunk's at
      // once: a slow limit would hold the source's credit for minutes (it gives up after one).
      owed++;
      const every = limit.bytesPerSecond > 0 ? 1 : CREDIT_EVERY;
      if (!done && credited < n && (owed >= every || credited + owed >= n)) {
        const k = Math.min(owed, n - credited);
        credited += k;
        owed = 0;
        port.send({ t: 'credit', rid: req.rid, n: k });
      }
    };
    const req = port.request(
      {
        t: 'get',
        lib: want.lib,
        path: want.path,
        grant: want.grant,
        size: want.size,
        mtime: want.mtime,
        ino: want.ino,
        from,
        credit: WINDOW,
      },
      (a) => {
        chain = chain.then(() => handle(a)).catch((e: unknown) => finish(() => reject(e)));
      },
      (e) => finish(() => reject(e)),
    );
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
