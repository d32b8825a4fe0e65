// Signalling that crosses a third device (a member that forwards WebRTC offers and candidates
// between two devices that cannot reach each other) is sealed end to end: libsodium's crypto_box
// (X25519, XSalsa20-Poly1305) between the two devices' keys, their Ed25519 keys converted to
// X25519 as libsodium provides. The forwarder sees who talks to whom, never what they say, and
// cannot alter a byte unnoticed. Sender and recipient are bound inside the box, and each box is
// dated and numbered so the receiver drops replays.
import { randomBytes, type KeyObject } from 'node:crypto';
import sodium from 'sodium-universal';
import { SdError } from '../errors.js';
import { pack, unpack } from '../events/codec.js';
import { rawPublicKeyOf } from './identity.js';

const NONCE = 24;
const MAC = 16;
/** A box older than this, or dated this far ahead, is refused (clocks of members differ a little). */
export const SEAL_WINDOW_MS = 120_000;

const curveSecrets = new WeakMap<KeyObject, Uint8Array>();

function curveSecretOf(privateKey: KeyObject): Uint8Array {
  let sk = curveSecrets.get(privateKey);
  if (!sk) {
    const seed = Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url');
    const edSecret = Buffer.concat([seed, rawPublicKeyOf(privateKey)]);
    sk = new Uint8Array(32);
    sodium.crypto_sign_ed25519_sk_to_curve25519(sk, edSecret);
    sodium.sodium_memzero(edSecret);
    curveSecrets.set(privateKey, sk);
  }
  return sk;
}

function curvePublicOf(edPublic: Uint8Array): Uint8Array {
  const pk = new Uint8Array(32);
  try {
    sodium.crypto_sign_ed25519_pk_to_curve25519(pk, edPublic);
  } catch {
    throw new SdError('E_BAD_KEY', 'not a usable Ed25519 public key');
  }
  return pk;
}

export interface SealedEnvelope {
  from: string;
  to: string;
  /** Milliseconds since the epoch at the sender. */
  at: number;
  body: unknown;
}

/** Seals `body` from device `from` (our key) for device `to` (its Ed25519 public key). */
export function seal(
  body: unknown,
  self: { id: string; privateKey: KeyObject },
  to: { id: string; publicKey: Uint8Array },
  now = Date.now(),
): Uint8Array {
  const plain = pack({ from: self.id, to: to.id, at: now, body } satisfies SealedEnvelope);
  const out = new Uint8Array(NONCE + MAC + plain.length);
  const nonce = out.subarray(0, NONCE);
  nonce.set(randomBytes(NONCE));
  sodium.crypto_box_easy(
    out.subarray(NONCE),
    plain,
    nonce,
    curvePublicOf(to.publicKey),
    curveSecretOf(self.privateKey),
  );
  return out;
}

/**
 * Opens a box sealed by `from` for us; refuses one that does not authenticate, that names other
 * devices than the ones it travelled between, that is stale, or that was seen before.
 */
export class SealOpener {
  private readonly seen = new Map<string, number>();

  constructor(private readonly self: { id: string; privateKey: KeyObject }) {}

  open(box: Uint8Array, from: { id: string; publicKey: Uint8Array }, now = Date.now()): unknown {
    if (box.length < NONCE + MAC + 1) throw new SdError('E_BAD_SEAL', 'a sealed message too short to open');
    const nonce = box.subarray(0, NONCE);
    const plain = new Uint8Array(box.length - NONCE - MAC);
    const ok = sodium.crypto_box_open_easy(
      plain,
      box.subarray(NONCE),
      nonce,
      curvePublicOf(from.publicKey),
      curveSecretOf(this.self.privateKey),
    );
    if (!ok)
      throw new SdError('E_BAD_SEAL', `a sealed message that does not open with the key of ${from.id.slice(0, 8)}`);
    let env: Partial<SealedEnvelope>;
    try {
      env = unpack(plain) as Partial<SealedEnvelope>;
    } catch {
      throw new SdError('E_BAD_SEAL', 'a sealed message that does not decode');
    }
    if (env?.from !== from.id || env.to !== this.self.id)
      throw new SdError('E_BAD_SEAL', 'a sealed message addressed between other devices');
    if (typeof env.at !== 'number' || Math.abs(now - env.at) > SEAL_WINDOW_MS)
      throw new SdError('E_STALE_SEAL', 'a sealed message from too long ago (or a clock far off)');
    const id = Buffer.from(nonce).toString('base64');
    if (this.seen.has(id)) throw new SdError('E_REPLAYED_SEAL', 'a sealed message seen before');
    this.seen.set(id, env.at);
    if (this.seen.size > 4096)
      for (const [k, at] of this.seen) if (now - at > SEAL_WINDOW_MS || this.seen.size > 4096) this.seen.delete(k);
    return env.body;
  }
}
