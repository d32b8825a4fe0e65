// Pairing: `sd pair invite` makes a one-time code (address, the inviter's device id, a secret);
// `sd pair join CODE` dials, and each side proves knowledge of the secret bound to BOTH public
// keys (HMAC over the keys the handshake authenticated), so a relayed or replayed proof fails.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SdError } from '../errors.js';
import { base32, hex } from '../events/hash.js';
import { pack, unpack } from '../events/codec.js';

const PREFIX = 'vdfs1-';
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

export interface InviteCode {
  host: string;
  port: number;
  inviter: string;
  secret: Uint8Array;
}

export interface Invite {
  lib: string;
  secret: Uint8Array;
  expires: number;
  used: boolean;
}

export function encodeCode(c: InviteCode): string {
  return PREFIX + base32(pack([c.host, c.port, c.inviter, c.secret]));
}

function unbase32(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new Error('not base32');
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

export function decodeCode(code: string): InviteCode {
  const s = code.trim().toLowerCase();
  try {
    if (!s.startsWith(PREFIX)) throw new Error('prefix');
    const [host, port, inviter, secret] = unpack(unbase32(s.slice(PREFIX.length))) as [
      string,
      number,
      string,
      Uint8Array,
    ];
    if (
      typeof host !== 'string' ||
      !Number.isInteger(port) ||
      typeof inviter !== 'string' ||
      !(secret instanceof Uint8Array) ||
      secret.length !== 16
    )
      throw new Error('fields');
    return { host, port, inviter, secret: new Uint8Array(secret) };
  } catch {
    throw new SdError(
      'E_BAD_PAIR_CODE',
      'that is not a pairing code (it starts with "vdfs1-"; copy it whole from `sd pair invite`)',
    );
  }
}

export function proof(
  secret: Uint8Array,
  role: 'joiner' | 'inviter',
  first: Uint8Array,
  second: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', secret).update(`vdfs-pair-v1:${role}`).update(first).update(second).digest(),
  );
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class InviteBook {
  private readonly invites: Invite[] = [];

  create(lib: string, ttlMs: number): Invite {
    const inv = { lib, secret: new Uint8Array(randomBytes(16)), expires: Date.now() + ttlMs, used: false };
    this.invites.push(inv);
    // Expired and used invites are kept an hour so a late attempt gets the precise refusal.
    const cutoff = Date.now() - 3600_000;
    for (let i = this.invites.length - 1; i >= 0; i--) if (this.invites[i]!.expires < cutoff) this.invites.splice(i, 1);
    return inv;
  }

  get active(): number {
    return this.invites.filter((i) => !i.used && i.expires > Date.now()).length;
  }

  /** Finds the invite a joiner's proof was made with; refuses wrong, expired or reused codes. */
  redeem(joinerPub: Uint8Array, inviterPub: Uint8Array, p: Uint8Array): Invite {
    const inv = this.invites.find((i) => sameBytes(proof(i.secret, 'joiner', joinerPub, inviterPub), p));
    if (!inv) throw new SdError('E_PAIR_REFUSED', 'the pairing code is wrong');
    if (inv.used) throw new SdError('E_PAIR_REUSED', 'the pairing code was already used');
    if (inv.expires < Date.now())
      throw new SdError('E_PAIR_EXPIRED', 'the pairing code has expired; make a new one with `sd pair invite`');
    inv.used = true;
    return inv;
  }
}

export const secretId = (s: Uint8Array): string => hex(s).slice(0, 8);
