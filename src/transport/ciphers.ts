// The two ciphers of the record layer (link protocol 5). Bulk records: AES-256-GCM from node:crypto (AES-NI),
// for the big records of bulk messages (file chunks), next to libsodium's ChaCha20-Poly1305 for
// everything else. ChaCha20-Poly1305 costs about 1 µs a small record where a node:crypto cipher
// object costs 7-15 µs, and AES-GCM costs about half as much per byte: each where it is cheaper.
// Each direction's AES key is derived from that direction's key of the Noise split by HKDF-SHA256
// (its own key, never the ChaCha key itself); both ciphers share the direction's record counter,
// so a nonce is never used twice under either key. A record says which cipher sealed it by the top
// bit of its explicit nonce, which both ciphers authenticate: flipping it makes the record fail.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import sodium from 'sodium-universal';

export interface BulkKeys {
  tx: KeyObject;
  rx: KeyObject;
}

/** The top bit of the nonce's high u32 (its byte 7): the record was sealed with AES-256-GCM. */
export const BULK_BIT = 0x80000000;
/** A bulk record's largest ciphertext: a file chunk (1 MiB) with its frame's headers, in one record. */
export const BULK_RECORD = 1024 * 1024 + 1024;
/** Below this a bulk message is sealed with ChaCha20-Poly1305 all the same (a small file's chunk). */
export const BULK_MIN = 16 * 1024;
const TAG = 16;
const INFO = Buffer.from('vdfs-link/5 aes-256-gcm');

function derive(split: Uint8Array): KeyObject {
  const k = Buffer.from(hkdfSync('sha256', split, Buffer.alloc(0), INFO, 32));
  const key = createSecretKey(k);
  k.fill(0);
  return key;
}

/** The AES keys of a session, one per direction, from the split's send and receive keys. */
export function bulkKeysOf(keys: { tx: Uint8Array; rx: Uint8Array }): BulkKeys {
  return { tx: derive(keys.tx), rx: derive(keys.rx) };
}

/**
 * Starts sealing a record whose 8-byte explicit nonce is at the front of `rec` (the IV is 4 zero
 * bytes and that nonce, as for ChaCha20-Poly1305-IETF). The caller feeds the plaintext in order
 * and writes each output where its plaintext belongs.
 */
export function bulkSealer(
  key: KeyObject,
  rec: Uint8Array,
): { update(p: Uint8Array): Buffer; finish(tagAt: number): void } {
  const iv = Buffer.alloc(12);
  iv.set(rec.subarray(0, 8), 4);
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG });
  return {
    update: (p) => c.update(p),
    finish(tagAt) {
      c.final();
      rec.set(c.getAuthTag(), tagAt);
    },
  };
}

/**
 * Opens a bulk record (nonce, ciphertext, tag) into a new buffer; undefined if it does not
 * authenticate. GCM hands out plaintext before it checked the tag: nothing leaves before it did.
 */
export function openBulk(key: KeyObject, rec: Uint8Array): Buffer | undefined {
  const iv = Buffer.alloc(12);
  iv.set(rec.subarray(0, 8), 4);
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG });
    d.setAuthTag(rec.subarray(rec.length - TAG));
    const out = d.update(rec.subarray(8, rec.length - TAG));
    d.final();
    return out;
  } catch {
    return undefined;
  }
}

/** Seals the `bodyLen` bytes after the 8-byte nonce of `rec` in place with ChaCha20-Poly1305; the tag follows. */
export function sealChaCha(key: Uint8Array, rec: Uint8Array, bodyLen: number, iv: Uint8Array): void {
  iv.set(rec.subarray(0, 8), 4);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(rec.subarray(8), rec.subarray(8, 8 + bodyLen), null, null, iv, key);
}

/** Opens a ChaCha20-Poly1305 record's body into `out` (its length); false if it does not authenticate. */
export function openChaCha(key: Uint8Array, out: Uint8Array, rec: Uint8Array, iv: Uint8Array): boolean {
  iv.set(rec.subarray(0, 8), 4);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, rec.subarray(8), null, iv, key);
    return true;
  } catch {
    return false;
  }
}
