// The link's frames (mux.ts): type(1) then, for data, the channel (u32, or u8 length + UTF-8
// name) and the bytes; and the flood limit on what a peer sends.
import { SdError } from '../errors.js';

export const DATA_NUM = 0;
export const DATA_STR = 1;
export const PING = 2;
export const ACCEPT = 3;
export const CLOSE = 4;
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Inbound frames a member may send: a burst of FLOOD_BURST, refilled at FLOOD_RATE a second.
 * Replication sends a few large frames a second and a relay a few thousand small ones; a peer
 * far above that is flooding and is disconnected (E_FLOOD).
 */
export const FLOOD_RATE = 20_000;
export const FLOOD_BURST = 100_000;

/** A frame's own bytes: type, and a channel of at most 255 bytes with its length. */
export const MUX_OVERHEAD = 2 + 255;

/** The head of a data frame on `channel` (its bytes follow it); E_BAD_CHANNEL for a channel no frame can name. */
export function dataHead(channel: string | number): Uint8Array {
  if (typeof channel === 'number') {
    if (!Number.isInteger(channel) || channel < 0 || channel > 0xffffffff)
      throw new SdError('E_BAD_CHANNEL', `channel ${channel} is not a u32`);
    const head = new Uint8Array(5);
    head[0] = DATA_NUM;
    new DataView(head.buffer).setUint32(1, channel);
    return head;
  }
  const name = enc.encode(channel);
  if (name.length > 255) throw new SdError('E_BAD_CHANNEL', 'a channel name has at most 255 bytes');
  const head = new Uint8Array(2 + name.length);
  head[0] = DATA_STR;
  head[1] = name.length;
  head.set(name, 2);
  return head;
}

/** A data frame's channel and bytes (a plain view, whatever the layer below allocated), or undefined for a malformed one. */
export function parseData(f: Uint8Array): { channel: string | number; data: Uint8Array } | undefined {
  const view = (from: number): Uint8Array => new Uint8Array(f.buffer, f.byteOffset + from, f.byteLength - from);
  const type = f[0];
  if (type === DATA_NUM && f.length >= 5)
    return { channel: new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(1), data: view(5) };
  if (type === DATA_STR && f.length >= 2 && f.length >= 2 + f[1]!)
    return { channel: dec.decode(f.subarray(2, 2 + f[1]!)), data: view(2 + f[1]!) };
  return undefined;
}

/** The token bucket of FLOOD_RATE and FLOOD_BURST: take() is false once a peer is past it. */
export class FloodLimit {
  private tokens = FLOOD_BURST;
  private refilledAt = Date.now();

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(FLOOD_BURST, this.tokens + ((now - this.refilledAt) * FLOOD_RATE) / 1000);
    this.refilledAt = now;
    return --this.tokens >= 0;
  }
}
