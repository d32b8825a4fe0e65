// The catalogue of event types: one zod schema for each body and a size limit for each type,
// checked when this device appends and when an event arrives. An event that breaks a rule but is
// signed and chained stays in the log (removing it would break the chain); it has no effect on
// any projection and `sd log` shows why (see projections/rules.ts).
import { z } from 'zod';
import { DOC_NAMES } from '../shared/schema.js';
import { TrashAdded, TrashRemoved } from '../projections/trash.js';
import type { EventFields } from './codec.js';

/** No event larger than this is ever stored: a feed that sends one is refused from there on. */
export const MAX_EVENT_BYTES = 4 * 1024 * 1024;
/** HLC bounds (year 6429, 2^31 ticks): a clock outside them is refused, never shown as NaN. */
export const MAX_HLC_MS = 2 ** 47;
export const MAX_HLC_C = 2 ** 31;

const KiB = 1024;
const MiB = 1024 * KiB;

const Id = z.string().min(1).max(128);
const DeviceId = z.string().regex(/^[a-z2-7]{32}$/, 'a device id');
const Name = z.string().min(1).max(200);
const Bytes = z.instanceof(Uint8Array);
const Count = z.number().int().nonnegative();
const isKey = (k: unknown): boolean =>
  typeof k === 'string' && k.length <= 4096 && (k === '' || !/(^|\x01)\.{0,2}(\x01|$)|[/\0]/.test(k));
// An entry key is a path relative to its location, '/' replaced by \x01: no empty, '.' or '..' part.
const Key = z.string().refine(isKey, 'an entry key');
const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
const isShort = (s: unknown, max: number): boolean => typeof s === 'string' && s.length <= max;

/**
 * A batch of index rows, checked row by row in one pass: zod's per-element tuples cost about 1.5 ms
 * per 1,000-row batch, a visible share of replicating 100,000 entries a second. Not `z.array` either:
 * it still parses each row as `z.unknown()` (with zod 4.6's cycle bookkeeping per row, ~0.9 ms per
 * 1,000 rows here against ~0.15 ms for this, and 20-50 ms on the first batch of a process).
 */
const Rows = (width: number, row: (r: unknown[]) => string | undefined, maxWidth = width) =>
  z
    .custom<unknown[]>((v) => Array.isArray(v) && v.length <= 20_000, 'a list of at most 20,000 rows')
    .superRefine((rows, ctx) => {
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        const bad =
          Array.isArray(r) && r.length >= width && r.length <= maxWidth
            ? row(r)
            : `a row of ${width === maxWidth ? width : `${width} to ${maxWidth}`} fields`;
        if (bad) return void ctx.addIssue({ code: 'custom', path: [i], message: bad });
      }
    });
const Inode = (v: unknown): boolean => typeof v === 'bigint' || isCount(v) || (typeof v === 'string' && v.length <= 40);

const ChangeSet = z.partialRecord(z.enum(DOC_NAMES as [string, ...string[]]), z.array(Bytes).max(10_000));

export const eventSchemas = {
  'library.created': z.object({
    id: z.string().uuid(),
    name: Name,
    creator: z.object({ dev: DeviceId, pubkey: Bytes, name: Name }),
    nonce: z.string().min(16).max(64),
    v: z.literal(2),
  }),
  'library.renamed': z.object({ name: Name }),
  'device.renamed': z.object({ name: Name }),
  'device.added': z.object({ dev: DeviceId, pubkey: Bytes, name: Name, role: z.enum(['admin', 'member']).optional() }),
  'device.role': z.object({ dev: DeviceId, role: z.enum(['admin', 'member']) }),
  'device.revoked': z.object({ dev: DeviceId, upTo: Count }),
  'location.added': z.object({
    id: Id,
    path: z.string().min(1).max(4096),
    name: Name,
    watch: z.boolean(),
    rules: z.object({
      skipHidden: z.boolean().optional(),
      skipNames: z.array(z.string().max(255)).max(1000).optional(),
      gitignore: z.boolean().optional(),
    }),
    // What it offers to other devices (projections/sharing.ts); absent: served, not an inbox.
    serve: z.boolean().optional(),
    inbox: z.boolean().optional(),
    accept: z.enum(['members', 'ask']).optional(),
  }),
  'location.removed': z.object({ id: Id }),
  'location.updated': z.object({ id: Id, watch: z.boolean().optional(), name: Name.optional() }),
  'location.indexed': z.object({ id: Id, files: Count, dirs: Count, bytes: Count }),
  // [key, t, size, mtime, inode, kind, content id?]: a first index hashes a file before it writes
  // its entry, and then gives its content id (and its kind from the content) here.
  'entries.upserted': z.object({
    loc: Id,
    e: Rows(
      6,
      ([k, t, size, mtime, inode, kind, cid]) =>
        !isKey(k)
          ? 'an entry key'
          : !(Number.isInteger(t) && (t as number) >= 0 && (t as number) <= 9)
            ? 'an entry kind number 0-9'
            : !isCount(size) || !Number.isFinite(mtime) || !Inode(inode) || !isShort(kind, 32)
              ? 'size, mtime, inode and kind'
              : cid !== undefined && (t !== 0 || !isShort(cid, 128))
                ? 'a content id, on a file'
                : undefined,
      7,
    ),
  }),
  'entries.deleted': z.object({ loc: Id, keys: z.array(Key).max(20_000) }),
  'entries.moved': z.object({
    loc: Id,
    moves: Rows(2, ([from, to]) => (isKey(from) && isKey(to) ? undefined : 'two entry keys')),
  }),
  // [key, content id, kind, size]
  'entries.identified': z.object({
    loc: Id,
    ids: Rows(4, ([k, cid, kind, size]) =>
      isKey(k) && isShort(cid, 128) && isShort(kind, 32) && isCount(size) ? undefined : 'key, content id, kind, size',
    ),
  }),
  // [key, bytes, files]
  'entries.aggregated': z.object({
    loc: Id,
    dirs: Rows(3, ([k, b, f]) => (isKey(k) && isCount(b) && isCount(f) ? undefined : 'key, bytes, files')),
  }),
  'shared.created': z.object({ urls: z.record(z.string(), z.string().max(256)), changes: ChangeSet }),
  // The other fields name what changed for `sd log` (tag, name, count...): scalars only.
  'shared.changed': z
    .looseObject({ op: z.string().min(1).max(64), changes: ChangeSet })
    .catchall(z.union([z.string().max(4096), z.number(), z.boolean(), z.null()])),
  'trash.added': TrashAdded,
  // A file transfer this device received into one of its locations: [key, content id, BLAKE3, size].
  'transfer.received': z.object({
    loc: Id,
    from: DeviceId,
    name: Name,
    via: z.enum(['pull', 'inbox']),
    drop: Id.optional(),
    files: Count,
    bytes: Count,
    /** Bytes that crossed the link for it, and chunks refused (a BLAKE3 that did not match). */
    received: Count,
    refused: Count,
    items: Rows(4, ([k, cid, b3, size]) =>
      isKey(k) && isShort(cid, 128) && typeof b3 === 'string' && /^[0-9a-f]{64}$/.test(b3) && isCount(size)
        ? undefined
        : 'key, content id, BLAKE3, size',
    ),
  }),
  'trash.removed': TrashRemoved,
  'command.verified': z.object({
    command: z.string().max(64),
    refs: z.array(z.tuple([DeviceId, Count])).max(16),
    ok: z.boolean(),
    checks: z
      .array(
        z.object({
          what: z.string().max(1024),
          ok: z.boolean(),
          detail: z
            .string()
            .max(16 * KiB)
            .optional(),
        }),
      )
      .max(1000),
  }),
};

export type EventType = keyof typeof eventSchemas;
export type BodyOf<T extends EventType> = z.infer<(typeof eventSchemas)[T]>;

const sizeLimits: Partial<Record<EventType, number>> = {
  'entries.upserted': 2 * MiB,
  'entries.deleted': 2 * MiB,
  'entries.moved': 2 * MiB,
  'entries.identified': 2 * MiB,
  'entries.aggregated': 2 * MiB,
  'shared.created': MAX_EVENT_BYTES,
  'shared.changed': MAX_EVENT_BYTES,
  'command.verified': 256 * KiB,
  'trash.added': MAX_EVENT_BYTES,
  'trash.removed': 2 * MiB,
  'transfer.received': 2 * MiB,
};
const DEFAULT_LIMIT = 64 * KiB;

export const isEventType = (type: string): type is EventType => Object.hasOwn(eventSchemas, type);

export function sizeLimitOf(type: string): number {
  return isEventType(type) ? (sizeLimits[type] ?? DEFAULT_LIMIT) : DEFAULT_LIMIT;
}

export interface Refusal {
  code: string;
  reason: string;
}

/** Checks an event against the catalogue alone (type, body, size, clock). */
export function catalogueCheck(ev: EventFields, size: number): Refusal | undefined {
  if (ev.hlc.ms < 0 || ev.hlc.ms >= MAX_HLC_MS || ev.hlc.c < 0 || ev.hlc.c >= MAX_HLC_C)
    return { code: 'E_BAD_CLOCK', reason: `its clock (${ev.hlc.ms}.${ev.hlc.c}) is outside the range any device uses` };
  if (!isEventType(ev.type))
    return { code: 'E_UNKNOWN_TYPE', reason: `"${ev.type.slice(0, 64)}" is not an event type` };
  const limit = sizeLimitOf(ev.type);
  if (size > limit)
    return { code: 'E_EVENT_TOO_LARGE', reason: `${size} bytes; ${ev.type} events hold at most ${limit}` };
  const parsed = eventSchemas[ev.type].safeParse(ev.body);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    return { code: 'E_BAD_BODY', reason: `${ev.type}: ${i.path.map(String).join('.') || 'body'}: ${i.message}` };
  }
  return undefined;
}

/** Parses a body the caller knows was admitted (projectors): typed, never cast. */
export function bodyOf<T extends EventType>(type: T, body: unknown): BodyOf<T> {
  return body as BodyOf<T>;
}
