// Which events count. An event has an effect only if its device is on the roster and not past its
// cut, its body fits the catalogue, and it speaks only of what its device may change: a location
// and everything in it belong to the device that created it (the location id names its owner).
// Every check reads the event and the roster only, so live projection and replay agree.
import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { base32 } from '../events/hash.js';
import { catalogueCheck, type Refusal } from '../events/catalogue.js';
import type { StoredEvent } from '../events/log.js';
import { stmt } from './types.js';

/** A new location id: random, then the owner's device id (`xxxxxxxxxx.<device id>`). */
export function newLocationId(dev: string): string {
  return `${base32(randomBytes(7)).slice(0, 10)}.${dev}`;
}

/** The device a location id names as its owner (undefined for ids of no known form). */
export function ownerOfLocation(id: string): string | undefined {
  const m = /^[a-z2-7]{10}\.([a-z2-7]{32})$/.exec(id);
  return m?.[1];
}

export type Standing = 'member' | 'pending' | 'revoked';

/** Whether a device's event at seq counts: on the roster, not past its cut. */
export function standing(db: Database, dev: string, seq: number): Standing {
  const r = stmt(db, 'SELECT revoked_seq FROM devices WHERE dev = ?').get(dev) as
    { revoked_seq: number | null } | undefined;
  if (!r) return 'pending';
  return r.revoked_seq !== null && seq > r.revoked_seq ? 'revoked' : 'member';
}

function locationOf(type: string, body: Record<string, unknown>): string | undefined {
  if (type.startsWith('location.')) return body.id as string;
  return typeof body.loc === 'string' ? body.loc : undefined;
}

/** The rules beyond the roster: the catalogue, then ownership. */
export function admit(db: Database, ev: StoredEvent, checked = false): Refusal | undefined {
  const bad = checked ? undefined : catalogueCheck(ev, ev.bytes.length);
  if (bad) return bad;
  const body = ev.body as Record<string, unknown>;
  const loc = locationOf(ev.type, body);
  if (loc !== undefined && ownerOfLocation(loc) !== ev.dev)
    return { code: 'E_NOT_OWNER', reason: `location ${loc.slice(0, 10)} is not one of this device's locations` };
  if (ev.type === 'command.verified' && (body.refs as [string, number][]).some(([d]) => d !== ev.dev))
    return { code: 'E_NOT_OWNER', reason: 'a device records the outcome of its own commands only' };
  if (ev.type === 'shared.created') {
    const c = stmt(db, "SELECT value FROM library_meta WHERE key = 'created_by'").get() as
      { value: string } | undefined;
    if (c?.value !== ev.dev)
      return { code: 'E_NOT_CREATOR', reason: "only the library's creator creates its documents" };
  }
  return undefined;
}

export function recordRefusal(db: Database, ev: { dev: string; seq: number }, r: Refusal, roster = false): void {
  stmt(db, 'INSERT OR REPLACE INTO refused (dev, seq, code, reason, roster) VALUES (?, ?, ?, ?, ?)').run(
    ev.dev,
    ev.seq,
    r.code,
    r.reason,
    roster ? 1 : 0,
  );
}

/** SQL: events (aliased `e`) that count, for readers of the log such as the shared documents. */
export const COUNTS = `EXISTS (SELECT 1 FROM devices d WHERE d.dev = e.dev AND (d.revoked_seq IS NULL OR e.seq <= d.revoked_seq))
  AND NOT EXISTS (SELECT 1 FROM refused r WHERE r.dev = e.dev AND r.seq = e.seq)`;
