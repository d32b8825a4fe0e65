// Pairing: `sd pair invite` makes a one-time code (address, the inviter's device id, a secret);
// `sd pair join CODE` dials, and inside the encrypted session each side proves knowledge of the
// secret bound to both public keys and to the session, so a relayed or replayed proof fails.
// Guesses are limited per invite and per address, with a lockout.
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
  /** Public name of the invite (see inviteId). */
  id: string;
  expires: number;
  used: boolean;
  /** Wrong guesses naming this invite; at PAIR_LIMITS.perInvite it is burned. */
  wrong: number;
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

/**
 * HMAC of the secret over the role, both authenticated public keys and the Noise handshake hash:
 * a proof made for one session is useless in any other (relayed, replayed or spliced).
 */
export function proof(
  secret: Uint8Array,
  role: 'joiner' | 'inviter',
  first: Uint8Array,
  second: Uint8Array,
  session: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', secret).update(`vdfs-pair-v2:${role}`).update(first).update(second).update(session).digest(),
  );
}

/** Names an invite without revealing its secret: only a holder of the code can name it. */
export function inviteId(secret: Uint8Array): string {
  return hex(createHmac('sha256', secret).update('vdfs-pair-id').digest()).slice(0, 16);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Wrong guesses that burn an invite, and that lock an address out of pairing for a while. */
export const PAIR_LIMITS = { perInvite: 5, perAddress: 10, windowMs: 10 * 60_000, lockoutMs: 10 * 60_000 };

interface Strikes {
  count: number;
  since: number;
  lockedUntil: number;
}

export class InviteBook {
  private readonly invites: Invite[] = [];
  private readonly strikes = new Map<string, Strikes>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly limits = PAIR_LIMITS,
  ) {}

  create(lib: string, ttlMs: number): Invite {
    const secret = new Uint8Array(randomBytes(16));
    const inv = { lib, secret, id: inviteId(secret), expires: this.now() + ttlMs, used: false, wrong: 0 };
    this.invites.push(inv);
    // Expired and used invites are kept an hour so a late attempt gets the precise refusal.
    const cutoff = this.now() - 3600_000;
    for (let i = this.invites.length - 1; i >= 0; i--) if (this.invites[i]!.expires < cutoff) this.invites.splice(i, 1);
    return inv;
  }

  get active(): number {
    return this.invites.filter((i) => !i.used && i.wrong < this.limits.perInvite && i.expires > this.now()).length;
  }

  /** May a stranger at this address start pairing? Asked before the handshake admits it. */
  admit(address: string): true | { code: string; message: string } {
    const s = this.strikes.get(address);
    if (s && s.lockedUntil > this.now())
      return {
        code: 'E_PAIR_LOCKED_OUT',
        message: `too many wrong pairing codes from ${address}; try again in ${Math.ceil((s.lockedUntil - this.now()) / 60_000)} min`,
      };
    if (this.active === 0) return { code: 'E_PEER_NOT_ALLOWED', message: 'no pairing code is open on this device' };
    return true;
  }

  /**
   * Finds the invite the joiner names and checks its proof; refuses wrong, expired, reused and
   * burned codes, counting wrong guesses against the invite and the address.
   */
  redeem(address: string, id: unknown, check: (secret: Uint8Array) => boolean): Invite {
    const locked = this.admit(address);
    if (locked !== true && locked.code === 'E_PAIR_LOCKED_OUT') throw new SdError(locked.code, locked.message);
    const inv = typeof id === 'string' ? this.invites.find((i) => i.id === id) : undefined;
    if (inv && inv.wrong >= this.limits.perInvite)
      throw new SdError(
        'E_PAIR_LOCKED',
        'this pairing code met too many wrong guesses; make a new one with `sd pair invite`',
      );
    if (!inv || !check(inv.secret)) {
      if (inv) inv.wrong++;
      this.strike(address);
      throw new SdError('E_PAIR_REFUSED', 'the pairing code is wrong');
    }
    if (inv.used) throw new SdError('E_PAIR_REUSED', 'the pairing code was already used');
    if (inv.expires < this.now())
      throw new SdError('E_PAIR_EXPIRED', 'the pairing code has expired; make a new one with `sd pair invite`');
    inv.used = true;
    return inv;
  }

  private strike(address: string): void {
    const now = this.now();
    let s = this.strikes.get(address);
    if (!s || now - s.since > this.limits.windowMs) s = { count: 0, since: now, lockedUntil: 0 };
    s.count++;
    if (s.count >= this.limits.perAddress) s.lockedUntil = now + this.limits.lockoutMs;
    this.strikes.set(address, s);
    // Bounded: old entries go once their window and lockout are over.
    if (this.strikes.size > 10_000)
      for (const [a, x] of this.strikes)
        if (now - x.since > this.limits.windowMs && x.lockedUntil < now) this.strikes.delete(a);
  }
}
