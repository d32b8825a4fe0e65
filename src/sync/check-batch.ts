// The receiving side's check of one batch of a device's feed, before anything is stored: size,
// feed and library, roster key, signature, chain. What passes (in order, up to the first refusal)
// is what the feed appends, in one transaction; the refusal says where and why it stopped.
import { decodeEvent } from '../events/codec.js';
import { blake3 } from '../events/hash.js';
import { MAX_EVENT_BYTES } from '../events/catalogue.js';
import type { StoredEvent } from '../events/log.js';
import { verifyRaw, deviceIdOf } from '../events/keys.js';
import type { Library } from '../library/library.js';
import type { PreVerified } from './sig-pool.js';

export interface Refusal {
  seq: number;
  code: string;
  reason: string;
}

export function checkBatch(
  lib: Library,
  dev: string,
  list: [Uint8Array, Uint8Array][],
  pre?: PreVerified,
): { accepted: StoredEvent[]; refusal: Refusal | undefined; head: { seq: number; hash: Uint8Array | null } } {
  const pubkey = lib.keyOf(dev)?.pubkey;
  // Checked once a batch: the id is a hash of the key.
  const keyMatches = pubkey !== undefined && deviceIdOf(pubkey) === dev;
  // The other thread's answers count only for the key the device has now.
  const hint = pre && pubkey && Buffer.from(pre.pubkey).equals(Buffer.from(pubkey)) ? pre : undefined;
  let head = lib.log.headOf(dev);
  const accepted: StoredEvent[] = [];
  let refusal: Refusal | undefined;
  for (let i = 0; i < list.length; i++) {
    const [bytes, sig] = list[i]!;
    const hash = hint ? hint.hashes[i]! : blake3(bytes);
    let f;
    try {
      f = decodeEvent(bytes);
    } catch (e) {
      refusal = { seq: head.seq + 1, code: 'E_BAD_EVENT', reason: (e as Error).message };
      break;
    }
    if (f.seq <= head.seq) continue; // already here: a resend is harmless
    const bad = (code: string, reason: string): void => void (refusal = { seq: f.seq, code, reason });
    if (bytes.length > MAX_EVENT_BYTES)
      bad('E_EVENT_TOO_LARGE', `${bytes.length} bytes; no event larger than ${MAX_EVENT_BYTES} is stored`);
    else if (f.dev !== dev || f.lib !== lib.id) bad('E_BAD_EVENT', 'event of another feed or library');
    else if (!pubkey) bad('E_UNKNOWN_DEVICE', `device ${dev} is not on the roster (yet)`);
    else if (!keyMatches) bad('E_UNKNOWN_DEVICE', 'roster key does not match the device id');
    else if (!(hint ? hint.ok[i] === true : verifyRaw(pubkey, hash, sig)))
      bad('E_BAD_SIGNATURE', 'signature does not match the device key');
    else if (f.seq !== head.seq + 1) bad('E_BROKEN_CHAIN', `expected #${head.seq + 1}, got #${f.seq}`);
    else if (
      (f.prev === null) !== (head.hash === null) ||
      (f.prev && head.hash && !Buffer.from(f.prev).equals(Buffer.from(head.hash)))
    )
      bad('E_BROKEN_CHAIN', 'prev does not match the hash of the event before');
    if (refusal) break;
    accepted.push({ ...f, hash, sig, bytes });
    head = { seq: f.seq, hash };
  }
  return { accepted, refusal, head };
}
