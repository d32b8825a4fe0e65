// A device id is derived from its key, so it cannot be claimed without the key: base32
// (RFC 4648, lowercase, no padding) of the first 20 bytes of BLAKE3(raw 32-byte public key).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createBLAKE3 } from 'hash-wasm';
import { base32 } from '../events/hash.js';
import { SdError } from '../errors.js';

let hasher: ReturnType<typeof createBLAKE3> | undefined;

export async function deviceIdFromPublicKey(raw: Uint8Array): Promise<string> {
  if (raw.length !== 32) throw new SdError('E_BAD_KEY', `an Ed25519 public key has 32 bytes, not ${raw.length}`);
  const h = await (hasher ??= createBLAKE3());
  // One shared hasher: init/update/digest run without an await between them.
  return base32(h.init().update(raw).digest('binary').subarray(0, 20));
}

/** The raw 32 bytes of an Ed25519 public key (from a private or public KeyObject). */
export function rawPublicKeyOf(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(Buffer.from(String(pub.export({ format: 'jwk' }).x), 'base64url'));
}

/** A KeyObject for a raw 32-byte Ed25519 public key. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}
