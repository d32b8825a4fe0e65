// Wire format of the reliable layer. DATA: type(1) flags(1) seq(u48) payload.
// ACK: type(1) 0(1) next expected seq(u48) window(u32) then (offset u32, length u32) ranges
// received beyond it (selective acks), offsets relative to the cumulative ack.
export const DATA = 1;
export const ACK = 2;
export const END = 1; // flag: last chunk of a message
export const HEADER = 8;
export const MAX_SACK_RANGES = 16;

export function writeSeq(b: Uint8Array, at: number, seq: number): void {
  // 48 bits: no wrap-around in the life of a link.
  const hi = Math.floor(seq / 2 ** 32);
  b[at] = (hi >>> 8) & 0xff;
  b[at + 1] = hi & 0xff;
  new DataView(b.buffer, b.byteOffset).setUint32(at + 2, seq >>> 0);
}

export function readSeq(b: Uint8Array, at: number): number {
  return (b[at]! * 256 + b[at + 1]!) * 2 ** 32 + new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at + 2);
}

export function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}
