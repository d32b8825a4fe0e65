// The audit history: list, verify, replay check.
import { join } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { rowToEvent } from '../../events/log.js';
import { verifyLogParallel } from '../../events/verify.js';
import { replayCheck } from '../../projections/replay.js';
import { defineQuery } from '../define.js';
import { summarize } from './summary.js';
import { MAX_CLOCK_SKEW_MS } from '../../events/hlc.js';
import { nameBook } from './names.js';
import type { Db } from '../../library/library.js';
import type { ReadDb } from '../host.js';

export function rosterLookup(db: Db): (dev: string) => Uint8Array | undefined {
  const keys = new Map(
    (db.prepare('SELECT dev, pubkey FROM devices').all() as { dev: string; pubkey: Buffer }[]).map((r) => [
      r.dev,
      new Uint8Array(r.pubkey),
    ]),
  );
  return (dev) => keys.get(dev);
}

/** A device given by id, id prefix or name. */
export function resolveDevice(db: ReadDb, ref: string): string {
  const rows = db.prepare('SELECT dev, name FROM devices').all() as { dev: string; name: string }[];
  const hit = rows.filter((r) => r.dev === ref || r.name === ref || (ref.length >= 4 && r.dev.startsWith(ref)));
  if (hit.length === 1) return hit[0]!.dev;
  if (hit.length > 1)
    throw new SdError('E_AMBIGUOUS_DEVICE', `"${ref}" matches ${hit.length} devices; use more of the id`);
  throw new SdError('E_DEVICE_NOT_FOUND', `no device "${ref}" in this library (see \`sd device list\`)`);
}

export const listLog = defineQuery({
  name: 'log.list',
  summary: 'the audit history of the library, newest first',
  input: z.object({
    device: z.string().optional(),
    type: z.string().optional(),
    since: z.string().optional(),
    limit: z.number().int().positive().max(100_000).default(50),
  }),
  run: ({ core, db }, input) => {
    const names = nameBook(db, core.device.id);
    const where: string[] = [];
    const args: unknown[] = [];
    if (input.device) {
      where.push('e.dev = ?');
      args.push(resolveDevice(db, input.device));
    }
    if (input.type) {
      // "tag" matches "tag.*"; an exact type matches itself.
      where.push('(e.type = ? OR e.type LIKE ?)');
      args.push(input.type, `${input.type}.%`);
    }
    if (input.since) {
      const ms = Date.parse(input.since);
      if (Number.isNaN(ms))
        throw new SdError(
          'E_BAD_INPUT',
          `--since "${input.since}" is not an ISO date (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`,
        );
      where.push('e.hlc_ms >= ?');
      args.push(ms);
    }
    const sql = `SELECT e.dev, e.seq, e.hash, e.type, e.bytes, e.sig, d.name AS devName, d.dev AS member,
      d.revoked_seq AS cut, a.ok AS verified, a.failed, r.code AS refusedCode, r.reason AS refusedReason
      FROM events e LEFT JOIN devices d ON d.dev = e.dev LEFT JOIN command_audit a ON a.dev = e.dev AND a.seq = e.seq
      LEFT JOIN refused r ON r.dev = e.dev AND r.seq = e.seq
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.hlc_ms DESC, e.hlc_c DESC, e.dev DESC LIMIT ?`;
    const rows = db.prepare(sql).all(...args, input.limit) as (Parameters<typeof rowToEvent>[0] & {
      devName: string | null;
      member: string | null;
      cut: number | null;
      verified: number | null;
      failed: string | null;
      refusedCode: string | null;
      refusedReason: string | null;
    })[];
    const future = Date.now() + MAX_CLOCK_SKEW_MS;
    return rows.map((r) => {
      const ev = rowToEvent(r);
      // Why an event has no effect, if it has none: a rule it breaks, or its device's standing.
      const refused = r.refusedCode
        ? { code: r.refusedCode, reason: r.refusedReason ?? '' }
        : r.member === null
          ? { code: 'E_NOT_MEMBER', reason: 'its device is not on the roster (yet)' }
          : r.cut !== null && ev.seq > r.cut
            ? { code: 'E_REVOKED', reason: `its device was revoked after #${r.cut}` }
            : null;
      return {
        refused,
        /** Dated beyond the clock skew we accept: shown as is, never moves our clock. */
        future: ev.hlc.ms > future,
        time: ev.hlc.ms,
        device: ev.dev,
        deviceName: r.devName,
        seq: ev.seq,
        type: ev.type,
        summary: summarize(ev.type, ev.body, { names, pos: { ms: ev.hlc.ms, c: ev.hlc.c, dev: ev.dev }, dev: ev.dev }),
        verified: r.verified === null ? null : r.verified === 1,
        failed: r.failed,
        hash: Buffer.from(ev.hash).toString('hex').slice(0, 16),
      };
    });
  },
});

export const verifyLogQuery = defineQuery({
  name: 'log.verify',
  summary: 'check every signature and hash chain of the log',
  input: z.object({}),
  run: ({ lib, db }) => verifyLogParallel(db, lib.id, rosterLookup(db), lib.opened),
});

export const replayCheckQuery = defineQuery({
  name: 'replay.check',
  summary: 'rebuild the projections from the log and compare checksums',
  input: z.object({}),
  run: ({ core, lib }) =>
    replayCheck({
      live: lib.ro,
      writer: lib.db,
      lib: lib.id,
      tmpDir: join(core.dataDir, 'tmp'),
      prepare: (fresh) => lib.keyScratch(fresh),
    }),
});
