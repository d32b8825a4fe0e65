// The `xfer` channel of a PeerLink: file content between devices. Control messages are msgpack
// maps parsed by one schema each; a chunk is binary: kind(1) = 1, request id (u32), chunk index
// (u32), the BLAKE3 of the file's bytes from its start through this chunk (32 bytes; since link
// protocol 6, before it the chunk's own) and its bytes. The receiver grants credit (chunks it
// may be sent ahead), so a slow disk or a full link slows the sender instead of filling memory.
import { Packr, Unpackr } from 'msgpackr';
import { z } from 'zod';

export const CHANNEL = 'xfer';
/** Bytes per chunk: the unit of verification, credit and resume. */
export const CHUNK = 1024 * 1024;
/** Chunks a request may have in flight. */
export const WINDOW = 16;

const CONTROL = 0;
const DATA = 1;
const HEADER = 1 + 4 + 4 + 32;
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

const Rid = z.number().int().nonnegative().max(0xffffffff);
const Lib = z.string().min(1).max(64);
const Path = z.string().min(1).max(4096);
const Id = z.string().min(1).max(64);

/** [rel ('' = the requested path itself), t (0 file, 1 folder), size, mtimeMs, inode, mode] */
export type ListedItem = [string, number, number, number, number, number];
const Item = z.tuple([
  z.string().max(4096),
  z.number().int().min(0).max(1),
  z.number().int().nonnegative(),
  z.number(),
  z.number().nonnegative(),
  z.number().int().nonnegative(),
]);

export const Msg = z.discriminatedUnion('t', [
  // receiver -> source
  z.object({ t: z.literal('list'), rid: Rid, lib: Lib, path: Path, grant: Id.optional() }),
  z.object({
    t: z.literal('get'),
    rid: Rid,
    lib: Lib,
    path: Path,
    grant: Id.optional(),
    /** The version the listing saw: another one is E_SOURCE_CHANGED. */
    size: z.number().int().nonnegative(),
    mtime: z.number(),
    ino: z.number().nonnegative(),
    /** First chunk wanted (a resumed file starts after its last verified chunk). */
    from: z.number().int().nonnegative(),
    credit: z.number().int().positive().max(64),
  }),
  z.object({ t: z.literal('credit'), rid: Rid, n: z.number().int().positive().max(64) }),
  z.object({ t: z.literal('stop'), rid: Rid }),
  // source -> receiver
  z.object({ t: z.literal('listing'), rid: Rid, items: z.array(Item).max(1_000_000), skipped: z.number().int() }),
  /**
   * A resumed file (`from` > 0), before its first chunk: the BLAKE3 of the file's bytes before
   * chunk `from`, which the receiver holds already (checked against its copy on disk).
   */
  z.object({ t: z.literal('prefix'), rid: Rid, hash: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** The file is complete: the BLAKE3 of the whole file, computed from the bytes the source read. */
  z.object({ t: z.literal('end'), rid: Rid, hash: z.string().regex(/^[0-9a-f]{64}$/) }),
  z.object({ t: z.literal('fail'), rid: Rid, code: z.string().max(64), message: z.string().max(1000) }),
  // sender -> receiver of a drop (sd send), and the answer
  z.object({
    t: z.literal('offer'),
    rid: Rid,
    lib: Lib,
    drop: Id,
    items: z.array(z.object({ path: Path, files: z.number().int(), bytes: z.number().int() })).max(1000),
  }),
  z.object({ t: z.literal('offered'), rid: Rid, state: z.enum(['accepted', 'queued']) }),
  /** The receiver is done with a drop (fetched, or rejected): the sender may forget its grant. */
  z.object({ t: z.literal('dropped'), drop: Id, state: z.enum(['done', 'rejected']) }),
]);
export type Msg = z.infer<typeof Msg>;
export type MsgOf<T extends Msg['t']> = Extract<Msg, { t: T }>;

export interface Chunk {
  rid: number;
  index: number;
  hash: Uint8Array;
  data: Uint8Array;
}

export function encode(m: Msg): Uint8Array {
  const body = packr.pack(m);
  const out = new Uint8Array(1 + body.length);
  out[0] = CONTROL;
  out.set(body, 1);
  return out;
}

/**
 * Makes chunks' frames for one stream: a frame with its header written but for the hash, and its
 * data part to read the bytes into (the file's bytes are read straight into the frame that is
 * sent). All in one buffer: the link seals (copies) a message before `send` returns, so the frame
 * of the chunk sent last is free for the next. That saves a chunk-sized allocation per chunk
 * (page faults, and garbage for V8 to collect).
 */
export function chunkFrames(): (rid: number, index: number, length: number) => { frame: Buffer; data: Buffer } {
  let buf: Buffer | undefined;
  return (rid, index, length) => {
    if (!buf || buf.length < HEADER + length) buf = Buffer.allocUnsafe(HEADER + length);
    const frame = buf.subarray(0, HEADER + length);
    frame[0] = DATA;
    frame.writeUInt32BE(rid, 1);
    frame.writeUInt32BE(index, 5);
    return { frame, data: frame.subarray(HEADER) };
  };
}

/** Writes the BLAKE3 of the file through this chunk (32 bytes) into a frame from chunkFrames. */
export function setChunkHash(frame: Buffer, hash: Uint8Array): void {
  frame.set(hash.subarray(0, 32), 9);
}

/** A message or a chunk; undefined for bytes no schema accepts (the caller counts them). */
export function decode(bytes: Uint8Array): Msg | Chunk | undefined {
  if (bytes[0] === DATA && bytes.length >= HEADER) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      rid: v.getUint32(1),
      index: v.getUint32(5),
      hash: bytes.subarray(9, HEADER),
      data: bytes.subarray(HEADER),
    };
  }
  if (bytes[0] !== CONTROL) return undefined;
  try {
    const r = Msg.safeParse(unpackr.unpack(bytes.subarray(1)));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export const isChunk = (m: Msg | Chunk): m is Chunk => !('t' in m);

/** Chunks in a file of `size` bytes (an empty file still has one, empty). */
export const chunksOf = (size: number): number => Math.max(1, Math.ceil(size / CHUNK));
