// The roster of a library as a pure function of its roster events, so every device computes the
// same roster from the same events whatever order they arrived in.
//
// Rules (README, Design: "Roster"):
// - `library.created` counts only as event 1 of its creator's own feed, and only if the library id
//   is bound to that device (id = BLAKE3(creator, nonce) as a UUID): no other device can claim it.
// - The creator, and the devices it names admins (`device.role`, or `device.added` with a role),
//   add and revoke devices. Any device may revoke itself; only the creator revokes the creator.
// - A device's key is the one its id is the hash of: a `device.added` with another key is refused.
// - Revocation is monotonic: a device's events after its cut (`upTo`) have no effect, whoever
//   relayed them. Several revocations of one device keep the lowest cut.
// - Whether a revocation counts is decided in HLC order (then device id, seq), seq-based cuts
//   included: a revocation made by a device after its own cut does not count.
import { blake3, hex } from '../events/hash.js';
import { deviceIdOf } from '../events/keys.js';
import { catalogueCheck, type Refusal } from '../events/catalogue.js';
import type { EventFields } from '../events/codec.js';

export const ROSTER_TYPES: ReadonlySet<string> = new Set([
  'library.created',
  'device.added',
  'device.role',
  'device.revoked',
  'device.renamed',
]);

export interface RosterEvent extends EventFields {
  size: number;
}

export type Role = 'creator' | 'admin' | 'member';

export interface RosterEntry {
  dev: string;
  pubkey: Uint8Array;
  name: string;
  role: Role;
  addedBy: string;
  addedAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
  /** The last seq of this device that counts (null: not revoked). */
  cut: number | null;
}

export interface Roster {
  creator: { dev: string; name: string; library: string; at: number } | null;
  devices: Map<string, RosterEntry>;
  /** Roster events that break a rule, by `dev:seq`. */
  refused: Map<string, Refusal & { dev: string; seq: number }>;
}

/** The library id a creator binds with a nonce: a UUID (version 8) from BLAKE3(creator, nonce). */
export function libraryIdFor(creator: string, nonce: string): string {
  const b = blake3(new TextEncoder().encode(`vdfs-library:${creator}:${nonce}`)).slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const order = (a: EventFields, b: EventFields): number =>
  a.hlc.ms - b.hlc.ms || a.hlc.c - b.hlc.c || (a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : a.seq - b.seq);
const before = (a: EventFields, b: EventFields): boolean => order(a, b) < 0;
const keyOf = (e: EventFields): string => `${e.dev}:${e.seq}`;

interface Body {
  dev?: string;
  pubkey?: Uint8Array;
  name?: string;
  role?: 'admin' | 'member';
  upTo?: number;
  id?: string;
  nonce?: string;
  creator?: { dev: string; pubkey: Uint8Array; name: string };
}

export function computeRoster(lib: string, input: RosterEvent[]): Roster {
  const refused: Roster['refused'] = new Map();
  const refuse = (e: EventFields, code: string, reason: string): void =>
    void refused.set(keyOf(e), { dev: e.dev, seq: e.seq, code, reason });
  const events: (EventFields & { b: Body })[] = [];
  for (const e of input) {
    const bad = catalogueCheck(e, e.size);
    if (bad) refuse(e, bad.code, bad.reason);
    else events.push({ ...e, b: e.body as Body });
  }
  events.sort(order);

  let creatorEv: (typeof events)[number] | undefined;
  for (const e of events.filter((x) => x.type === 'library.created')) {
    const c = e.b.creator!;
    if (creatorEv) refuse(e, 'E_NOT_CREATOR', 'the library already has its creator');
    else if (e.seq !== 1) refuse(e, 'E_NOT_CREATOR', 'library.created counts only as the first event of a feed');
    else if (c.dev !== e.dev || deviceIdOf(new Uint8Array(c.pubkey)) !== e.dev)
      refuse(e, 'E_NOT_CREATOR', 'library.created names a creator other than its own device');
    else if (e.b.id !== lib || libraryIdFor(e.dev, e.b.nonce!) !== lib)
      refuse(e, 'E_NOT_CREATOR', 'the library id is not bound to this device');
    else creatorEv = e;
  }
  const devices: Roster['devices'] = new Map();
  if (!creatorEv) return { creator: null, devices, refused };
  const creator = creatorEv.dev;

  // Admins are named by the creator alone; a role holds from its event on (HLC order).
  const grants = events.filter(
    (e) => e.dev === creator && (e.type === 'device.role' || (e.type === 'device.added' && e.b.role !== undefined)),
  );
  for (const e of events.filter((x) => x.type === 'device.role' && x.dev !== creator))
    refuse(e, 'E_NOT_CREATOR', 'only the creator names admins');
  const roleAt = (dev: string, at: EventFields, cuts: Map<string, number>): Role => {
    if (dev === creator) return 'creator';
    let role: Role = 'member';
    for (const g of grants) {
      if (!before(g, at)) break;
      if (g.b.dev === dev && !(g.seq > (cuts.get(creator) ?? Infinity))) role = g.b.role!;
    }
    return role;
  };

  // Revocations, to a fixed point: one that its author made after its own cut is dropped.
  const revocations = events.filter((e) => e.type === 'device.revoked');
  const dropped = new Set<string>();
  let cuts = new Map<string, number>();
  let by = new Map<string, (typeof events)[number]>();
  for (;;) {
    cuts = new Map();
    by = new Map();
    const applied: (typeof events)[number][] = [];
    for (const r of revocations) {
      if (dropped.has(keyOf(r))) continue;
      if (r.seq > (cuts.get(r.dev) ?? Infinity)) continue;
      const target = r.b.dev!;
      const self = target === r.dev;
      if (!self && target === creator) continue;
      if (!self && roleAt(r.dev, r, cuts) === 'member') continue;
      const upTo = self ? r.seq : r.b.upTo!;
      if (upTo < (cuts.get(target) ?? Infinity)) {
        cuts.set(target, upTo);
        by.set(target, r);
      }
      applied.push(r);
    }
    const late = applied.find((r) => r.seq > (cuts.get(r.dev) ?? Infinity));
    if (!late) {
      for (const r of revocations) {
        if (applied.includes(r)) continue;
        const target = r.b.dev!;
        if (r.seq > (cuts.get(r.dev) ?? Infinity))
          refuse(r, 'E_REVOKED', `its device was revoked after #${cuts.get(r.dev)}`);
        else if (target === creator) refuse(r, 'E_NOT_ALLOWED', 'only the creator can revoke the creator');
        else refuse(r, 'E_NOT_ADMIN', 'only the creator and its admins revoke other devices');
      }
      break;
    }
    dropped.add(keyOf(late));
  }
  const cutOf = (dev: string): number => cuts.get(dev) ?? Infinity;

  const c = creatorEv.b.creator!;
  devices.set(creator, {
    dev: creator,
    pubkey: new Uint8Array(c.pubkey),
    name: c.name,
    role: 'creator',
    addedBy: creator,
    addedAt: creatorEv.hlc.ms,
    revokedAt: null,
    revokedBy: null,
    cut: null,
  });
  for (const e of events) {
    if (e.type === 'library.created' || e.type === 'device.revoked' || refused.has(keyOf(e))) continue;
    if (e.seq > cutOf(e.dev)) {
      refuse(e, 'E_REVOKED', `its device was revoked after #${cutOf(e.dev)}`);
      continue;
    }
    if (e.type === 'device.role' && e.b.dev === creator) refuse(e, 'E_NOT_ALLOWED', "the creator's role is fixed");
    if (e.type !== 'device.added') continue;
    const target = e.b.dev!;
    if (roleAt(e.dev, e, cuts) === 'member') refuse(e, 'E_NOT_ADMIN', 'only the creator and its admins add devices');
    else if (deviceIdOf(new Uint8Array(e.b.pubkey!)) !== target)
      refuse(e, 'E_BAD_KEY', 'the key given is not the one this device id is the hash of');
    else if (!devices.has(target))
      devices.set(target, {
        dev: target,
        pubkey: new Uint8Array(e.b.pubkey!),
        name: e.b.name!,
        role: 'member',
        addedBy: e.dev,
        addedAt: e.hlc.ms,
        revokedAt: null,
        revokedBy: null,
        cut: null,
      });
  }
  // A device's own renames, the last that counts; roles and cuts as they stand at the end.
  const renames = events.filter((e) => e.type === 'device.renamed' && !refused.has(keyOf(e)));
  renames.sort((a, b) => a.seq - b.seq);
  const last: EventFields = {
    lib,
    dev: '\uffff',
    seq: Infinity,
    prev: null,
    hlc: { ms: Infinity, c: 0 },
    type: '',
    body: null,
  };
  for (const d of devices.values()) {
    for (const r of renames) if (r.dev === d.dev) d.name = r.b.name!;
    if (d.role !== 'creator') d.role = roleAt(d.dev, last, cuts);
    const r = by.get(d.dev);
    if (r) {
      d.cut = cuts.get(d.dev)!;
      d.revokedAt = r.hlc.ms;
      d.revokedBy = r.dev;
    }
  }
  return {
    creator: { dev: creator, name: creatorEv.b.name!, library: lib, at: creatorEv.hlc.ms },
    devices,
    refused,
  };
}
