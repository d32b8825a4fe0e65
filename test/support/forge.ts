// Signed events a hostile member writes into its own feed: correctly signed and chained, with
// whatever type, body and clock the test chooses (our own append refuses such events).
import type { KeyObject } from 'node:crypto';
import { encodeEvent } from '../../src/events/codec.js';
import { blake3 } from '../../src/events/hash.js';
import type { Hlc } from '../../src/events/hlc.js';
import { signBytes } from '../../src/events/keys.js';
import type { Library } from '../../src/library/library.js';
import type { StoredEvent } from '../../src/events/log.js';

export interface Signer {
  id: string;
  privateKey: KeyObject;
}

/** Appends a forged event to `signer`'s feed in `lib` and publishes it (the feeds announce it). */
export function forge(lib: Library, signer: Signer, type: string, body: unknown, hlc?: Hlc): StoredEvent {
  const ev = makeEvent(lib.id, signer, lib.log.headOf(signer.id), type, body, hlc ?? lib.log.clock.now());
  lib.write(() => lib.appendRemote(ev));
  lib.flush();
  lib.log.reloadHead();
  return ev;
}

/** A signed event following `head` in signer's feed, built without any library. */
export function makeEvent(
  lib: string,
  signer: Signer,
  head: { seq: number; hash: Uint8Array | null },
  type: string,
  body: unknown,
  hlc: Hlc,
): StoredEvent {
  const fields = { lib, dev: signer.id, seq: head.seq + 1, prev: head.hash, hlc, type, body };
  const bytes = encodeEvent(fields);
  const hash = blake3(bytes);
  return { ...fields, hash, sig: signBytes(signer.privateKey, hash), bytes };
}
