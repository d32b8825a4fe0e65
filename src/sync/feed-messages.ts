// The messages of the feed protocol (feed.ts) and the sizes both sides hold them to: what crosses
// a feed channel, and how it is read back from bytes.
import { unpack } from '../events/codec.js';

export const BATCH_EVENTS = 500;
/** More devices than any roster holds: a heads message longer than this is refused. */
export const MAX_HEADS = 4096;

export type FeedMsg =
  | { t: 'heads'; heads: [string, number][] }
  | { t: 'have'; dev: string; seq: number }
  | { t: 'want'; dev: string; from: number }
  | { t: 'events'; dev: string; list: [Uint8Array, Uint8Array][] }
  | { t: 'ack'; dev: string; seq: number }
  | { t: 'reject'; dev: string; seq: number; code: string; reason: string };

/** A feed message from its bytes; throws when they are not one (its fields are checked where used). */
export function decodeFeedMsg(bytes: Uint8Array): FeedMsg {
  const m = unpack(bytes) as FeedMsg;
  if (!m || typeof m !== 'object' || typeof (m as { t?: unknown }).t !== 'string')
    throw new Error('not a feed message');
  return m;
}
