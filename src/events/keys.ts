// Ed25519 with node:crypto (keys, handshakes) and libsodium (the log's signatures and checks).
// A device id is derived from its public key, so it cannot be claimed without the key: base32 of
// the first 20 bytes of BLAKE3(raw public key).
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import sodium from 'sodium-universal';
import { SdError } from '../errors.js';
import { base32, blake3 } from './hash.js';

export interface DeviceKeys {
  id: string;
  publicKey: Uint8Array; // raw 32 bytes
  privateKey: KeyObject;
  publicKeyObject: KeyObject;
  /** libsodium's 64-byte secret key (seed and public key): what the log signs its events with. */
  secretKey: Uint8Array;
}

export function generateKeys(): { privatePem: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(String(jwk.x), 'base64url'));
}

export function deviceIdOf(rawPublic: Uint8Array): string {
  return base32(blake3(rawPublic).subarray(0, 20));
}

export function keysFromPem(privatePem: string): DeviceKeys {
  const privateKey = createPrivateKey(privatePem);
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = rawPublicKey(publicKeyObject);
  const seed = Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url');
  const secretKey = new Uint8Array(sodium.crypto_sign_SECRETKEYBYTES);
  const derived = new Uint8Array(sodium.crypto_sign_PUBLICKEYBYTES);
  sodium.crypto_sign_seed_keypair(derived, secretKey, seed);
  seed.fill(0);
  if (!Buffer.from(derived).equals(Buffer.from(publicKey)))
    throw new SdError('E_BAD_DEVICE_KEY', 'the device key does not derive its own public key');
  return { id: deviceIdOf(publicKey), publicKey, privateKey, publicKeyObject, secretKey };
}

const publicKeyCache = new Map<string, KeyObject>();

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  const x = Buffer.from(raw).toString('base64url');
  let key = publicKeyCache.get(x);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    publicKeyCache.set(x, key);
  }
  return key;
}

export function signBytes(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privateKey));
}

/**
 * Signs with libsodium's 64-byte secret key: the same deterministic Ed25519 signature as
 * `signBytes`, in about half its time (the log signs every event it appends).
 */
export function signRaw(secretKey: Uint8Array, data: Uint8Array): Uint8Array {
  const sig = new Uint8Array(sodium.crypto_sign_BYTES);
  sodium.crypto_sign_detached(sig, data, secretKey);
  return sig;
}

export function verifyBytes(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, data, publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies a signature with the raw 32-byte public key (libsodium: about 1.6x the rate of
 * node:crypto's one-shot verify here, and stricter: small-order keys and non-canonical signatures
 * are refused). What the feed and `sd log verify` check every event with.
 */
export function verifyRaw(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== sodium.crypto_sign_PUBLICKEYBYTES || signature.length !== sodium.crypto_sign_BYTES)
    return false;
  try {
    return sodium.crypto_sign_verify_detached(signature, data, publicKey);
  } catch {
    return false;
  }
}

/** Short, human-comparable fingerprint of a public key (shown when pairing). */
export function fingerprint(rawPublic: Uint8Array): string {
  const b = base32(blake3(rawPublic)).slice(0, 16).toUpperCase();
  return b.match(/.{4}/g)!.join('-');
}
