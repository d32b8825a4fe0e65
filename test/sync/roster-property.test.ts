// Property: random roster operations by five devices (adds, revocations, admin roles, renames,
// and hostile ones: adds by non-admins, wrong keys, revoking the creator, forged creation events),
// with skewed clocks, give one roster whatever order the feeds interleave in; and the roster rules
// hold in it.
import test from 'ava';
import fc from 'fast-check';
import Database from 'better-sqlite3-multiple-ciphers';
import { generateKeys, keysFromPem, deviceIdOf, type DeviceKeys } from '../../src/events/keys.js';
import { initHashing } from '../../src/events/hash.js';
import { LOG_SCHEMA, type StoredEvent } from '../../src/events/log.js';
import { applySchema, project, checksums } from '../../src/projections/index.js';
import { computeRoster, libraryIdFor } from '../../src/projections/roster.js';
import { makeEvent } from '../support/forge.js';
import { PlainDocs } from '../../src/shared/provider.js';

type Op =
  | { k: 'add'; by: number; target: number; admin: boolean; wrongKey: boolean }
  | { k: 'revoke'; by: number; target: number; upTo: number }
  | { k: 'role'; by: number; target: number; admin: boolean }
  | { k: 'rename'; by: number }
  | { k: 'forge-created'; by: number };

const N = 5;
const dev = fc.integer({ min: 0, max: N - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('add' as const),
      by: dev,
      target: dev,
      admin: fc.boolean(),
      wrongKey: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('revoke' as const), by: dev, target: dev, upTo: fc.nat(6) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('role' as const), by: dev, target: dev, admin: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rename' as const), by: dev }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('forge-created' as const), by: dev }) },
);

interface World {
  lib: string;
  keys: DeviceKeys[];
  feeds: StoredEvent[][];
}

function build(keys: DeviceKeys[], ops: Op[], skew: number[]): World {
  const nonce = 'roster-property-nonce';
  const lib = libraryIdFor(keys[0]!.id, nonce);
  const feeds: StoredEvent[][] = keys.map(() => []);
  const append = (d: number, step: number, type: string, body: unknown): void => {
    const f = feeds[d]!;
    const last = f[f.length - 1];
    // Each device's clock: the step plus its own skew, never backwards within its feed.
    const ms = Math.max(1_000_000 + step * 10 + skew[d]!, (last?.hlc.ms ?? 0) + 1);
    f.push(
      makeEvent(lib, keys[d]!, last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: null }, type, body, {
        ms,
        c: 0,
      }),
    );
  };
  const k0 = keys[0]!;
  append(0, 0, 'library.created', {
    id: lib,
    name: 'lib',
    creator: { dev: k0.id, pubkey: k0.publicKey, name: 'd0' },
    nonce,
    v: 2,
  });
  ops.forEach((o, i) => {
    const step = i + 1;
    const target = keys[(o as { target?: number }).target ?? 0]!;
    if (o.k === 'add')
      append(o.by, step, 'device.added', {
        dev: target.id,
        pubkey: o.wrongKey ? keys[(o.target + 1) % N]!.publicKey : target.publicKey,
        name: `d${o.target}`,
        ...(o.admin ? { role: 'admin' } : {}),
      });
    else if (o.k === 'revoke')
      append(o.by, step, 'device.revoked', { dev: target.id, upTo: Math.min(o.upTo, feeds[o.target]!.length) });
    else if (o.k === 'role') append(o.by, step, 'device.role', { dev: target.id, role: o.admin ? 'admin' : 'member' });
    else if (o.k === 'rename') append(o.by, step, 'device.renamed', { name: `d${o.by}-${step}` });
    else {
      const k = keys[o.by]!;
      append(o.by, step, 'library.created', {
        id: lib,
        name: 'hijacked',
        creator: { dev: k.id, pubkey: k.publicKey, name: 'x' },
        nonce: `other-nonce-${step}`,
        v: 2,
      });
    }
  });
  return { lib, keys, feeds };
}

/** Merges the feeds in the order `picks` chooses, each feed staying in seq order. */
function interleave(feeds: StoredEvent[][], picks: number[]): StoredEvent[] {
  const at = feeds.map(() => 0);
  const out: StoredEvent[] = [];
  let p = 0;
  while (out.length < feeds.reduce((n, f) => n + f.length, 0)) {
    const open = feeds.map((f, i) => i).filter((i) => at[i]! < feeds[i]!.length);
    const i = open[(picks[p++ % picks.length] ?? 0) % open.length]!;
    out.push(feeds[i]![at[i]!++]!);
  }
  return out;
}

function receive(lib: string, events: StoredEvent[]): Database.Database {
  const db = new Database(':memory:');
  db.exec(LOG_SCHEMA);
  applySchema(db);
  const ins = db.prepare(
    'INSERT INTO events (dev, seq, hash, hlc_ms, hlc_c, type, bytes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const ctx = { db, shared: new PlainDocs() };
  for (const ev of events)
    db.transaction(() => {
      ins.run(ev.dev, ev.seq, ev.hash, ev.hlc.ms, ev.hlc.c, ev.type, ev.bytes, ev.sig);
      project(ctx, ev);
    })();
  void lib;
  return db;
}

test('random roster operations converge to one roster in any arrival order, and its rules hold', async (t) => {
  await initHashing();
  const keys = Array.from({ length: N }, () => keysFromPem(generateKeys().privatePem));
  let runs = 0;
  fc.assert(
    fc.property(
      fc.array(op, { minLength: 3, maxLength: 30 }),
      fc.array(fc.integer({ min: -40, max: 40 }), { minLength: N, maxLength: N }),
      fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 50 }), { minLength: 3, maxLength: 3 }),
      (ops, skew, orders) => {
        runs++;
        const w = build(keys, ops, skew);
        const all = w.feeds.flat();
        const expect = computeRoster(
          w.lib,
          all.map((e) => ({ ...e, size: e.bytes.length })),
        );
        const sums = orders.map((picks) => {
          const db = receive(w.lib, interleave(w.feeds, picks));
          const s = checksums(db).total;
          db.close();
          return s;
        });
        if (new Set(sums).size !== 1) return false;
        // The rules, on the computed roster.
        const creator = keys[0]!.id;
        if (!expect.devices.has(creator)) return false;
        const c = expect.devices.get(creator)!;
        const selfRevoked = all.some((e) => e.dev === creator && e.type === 'device.revoked');
        if (c.cut !== null && !selfRevoked) return false;
        for (const d of expect.devices.values()) {
          if (deviceIdOf(d.pubkey) !== d.dev) return false;
          if (d.dev !== creator && d.addedBy !== creator) {
            const granted = all.some(
              (e) =>
                e.dev === creator &&
                (e.body as { dev?: string; role?: string }).dev === d.addedBy &&
                (e.body as { role?: string }).role === 'admin',
            );
            if (!granted) return false;
          }
        }
        // Adding more non-revoking events (a forged creation, re-adds) never un-revokes anyone.
        const extra = build(
          keys,
          [...ops, { k: 'forge-created', by: 1 }, { k: 'add', by: 0, target: 2, admin: false, wrongKey: false }],
          skew,
        );
        const after = computeRoster(
          extra.lib,
          extra.feeds.flat().map((e) => ({ ...e, size: e.bytes.length })),
        );
        for (const d of expect.devices.values())
          if (d.cut !== null && (after.devices.get(d.dev)?.cut ?? Infinity) > d.cut) return false;
        return true;
      },
    ),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 150), seed: Number(process.env.PROPERTY_SEED ?? 7) },
  );
  t.true(runs >= 150 || !!process.env.PROPERTY_RUNS);
});
