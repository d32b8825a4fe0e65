// BLAKE3 through hash-wasm. The WASM module loads asynchronously once; after `initHashing()`
// hashing is synchronous, which keeps an append inside one SQLite transaction.
import { createBLAKE3, type IHasher } from 'hash-wasm';

let hasher: IHasher | undefined;
let streaming: IHasher | undefined;

export async function initHashing(): Promise<void> {
  hasher ??= await createBLAKE3();
  streaming ??= await createBLAKE3();
}

/** A second, incremental hasher for long sequential digests (checksums); not reentrant. */
export function streamHasher(): IHasher {
  if (!streaming) throw new Error('initHashing() must be awaited before hashing');
  streaming.init();
  return streaming;
}

export function blake3(...parts: Uint8Array[]): Uint8Array {
  if (!hasher) throw new Error('initHashing() must be awaited before hashing');
  hasher.init();
  for (const p of parts) hasher.update(p);
  return hasher.digest('binary');
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lowercase, no padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}
