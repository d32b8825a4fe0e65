// BLAKE3 backends. Content ids and full-file hashes are plain BLAKE3, so any correct
// implementation gives the same bytes: the native one (@napi-rs/blake-hash, the reference Rust
// crate with its SIMD kernels, shipped prebuilt per platform) when it loads, hash-wasm otherwise.
// The native kernel hashes a 1 GiB file about 5x faster than hash-wasm here (bench/hash.ts).
// SD_BLAKE3=wasm forces the fallback (tests use it to show both give the same ids).
import { createRequire } from 'node:module';

export interface Blake3 {
  init(): void;
  update(data: Uint8Array): void;
  /** Hex of the first `bits` bits of the digest (a BLAKE3 XOF prefix). */
  digest(): string;
}

interface NativeHasher {
  reset(): void;
  update(input: Uint8Array): unknown;
  digest(format?: string): string;
}
type NativeCtor = new () => NativeHasher;

let native: NativeCtor | null | undefined;

function loadNative(): NativeCtor | null {
  if (native !== undefined) return native;
  native = null;
  if (process.env.SD_BLAKE3 === 'wasm') return native;
  try {
    const mod = createRequire(import.meta.url)('@napi-rs/blake-hash') as { Blake3Hasher?: NativeCtor };
    if (typeof mod.Blake3Hasher === 'function') native = mod.Blake3Hasher;
  } catch {
    // No binary for this platform: hash-wasm does the work, slower but identical.
  }
  return native;
}

/** Which backend createBlake3 uses in this process. */
export function blake3Backend(): 'native' | 'wasm' {
  return loadNative() ? 'native' : 'wasm';
}

export async function createBlake3(bits: 128 | 256): Promise<Blake3> {
  const Native = loadNative();
  if (Native) {
    const h = new Native();
    const hexLen = bits / 4;
    return {
      init: () => h.reset(),
      update: (data) => void h.update(data),
      digest: () => h.digest('hex').slice(0, hexLen),
    };
  }
  // Imported only when needed: the workers of the hash pool then never load it.
  const { createBLAKE3 } = await import('hash-wasm');
  const h = await createBLAKE3(bits);
  return {
    init: () => void h.init(),
    update: (data) => void h.update(data),
    // hash-wasm's digest ends the hasher; BLAKE3's does not (a transfer digests after each chunk).
    digest: () => {
      const state = h.save();
      const hex = h.digest('hex');
      h.load(state);
      return hex;
    },
  };
}
