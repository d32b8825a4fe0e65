// Checks every signature and hash chain of a library's log. A verifier needs only the roster
// (device id -> public key), whoever relayed the events.
import type { Database } from 'better-sqlite3-multiple-ciphers';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { decodeEvent } from './codec.js';
import { blake3 } from './hash.js';
import { deviceIdOf, verifyRaw } from './keys.js';

const ids = new WeakMap<Uint8Array, string>();
function idOf(pubkey: Uint8Array): string {
  let id = ids.get(pubkey);
  if (id === undefined) ids.set(pubkey, (id = deviceIdOf(pubkey)));
  return id;
}

export interface BadEvent {
  dev: string;
  seq: number;
  code: 'E_BAD_HASH' | 'E_BAD_SIGNATURE' | 'E_BROKEN_CHAIN' | 'E_UNKNOWN_DEVICE' | 'E_BAD_EVENT';
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  devices: number;
  firstBad?: BadEvent;
  bad: number;
  ms: number;
}

export type KeyLookup = (dev: string) => Uint8Array | undefined;

/** Verifies one stored event against its predecessor's hash. Returns a reason or undefined. */
export function checkEvent(
  row: { dev: string; seq: number; hash: Uint8Array; type: string; bytes: Uint8Array; sig: Uint8Array },
  prevHash: Uint8Array | null,
  lib: string,
  pubkey: Uint8Array | undefined,
): BadEvent | undefined {
  const bad = (code: BadEvent['code'], reason: string): BadEvent => ({ dev: row.dev, seq: row.seq, code, reason });
  if (!pubkey || idOf(pubkey) !== row.dev) return bad('E_UNKNOWN_DEVICE', `device ${row.dev} is not on the roster`);
  const hash = blake3(row.bytes);
  if (!Buffer.from(hash).equals(Buffer.from(row.hash)))
    return bad('E_BAD_HASH', 'the event bytes do not match their hash (payload tampered)');
  if (!verifyRaw(pubkey, hash, row.sig)) return bad('E_BAD_SIGNATURE', 'the signature does not match the device key');
  let f;
  try {
    f = decodeEvent(row.bytes);
  } catch (e) {
    return bad('E_BAD_EVENT', (e as Error).message);
  }
  if (f.dev !== row.dev || f.seq !== row.seq || f.type !== row.type || f.lib !== lib)
    return bad('E_BAD_EVENT', 'the stored columns disagree with the signed event');
  const prevOk =
    prevHash === null ? f.prev === null : f.prev !== null && Buffer.from(f.prev).equals(Buffer.from(prevHash));
  if (!prevOk)
    return bad('E_BROKEN_CHAIN', `event does not link to ${row.dev}#${row.seq - 1} (reordered, removed or inserted)`);
  return undefined;
}

export function verifyLog(db: Database, lib: string, keyOf: KeyLookup): VerifyReport {
  const t0 = performance.now();
  const it = db
    .prepare('SELECT dev, seq, hash, type, bytes, sig FROM events ORDER BY dev, seq')
    .iterate() as IterableIterator<{
    dev: string;
    seq: number;
    hash: Buffer;
    type: string;
    bytes: Buffer;
    sig: Buffer;
  }>;
  let events = 0;
  let bad = 0;
  let firstBad: BadEvent | undefined;
  let dev = '';
  let devices = 0;
  let expectSeq = 1;
  let prevHash: Uint8Array | null = null;
  for (const row of it) {
    events++;
    if (row.dev !== dev) {
      dev = row.dev;
      devices++;
      expectSeq = 1;
      prevHash = null;
    }
    let problem: BadEvent | undefined;
    if (row.seq !== expectSeq) {
      problem = {
        dev: row.dev,
        seq: row.seq,
        code: 'E_BROKEN_CHAIN',
        reason: `expected ${row.dev}#${expectSeq}, found #${row.seq} (missing events)`,
      };
    } else {
      problem = checkEvent(row, prevHash, lib, keyOf(row.dev));
    }
    if (problem) {
      bad++;
      firstBad ??= problem;
    }
    expectSeq = row.seq + 1;
    prevHash = row.hash;
  }
  return { ok: bad === 0, events, devices, firstBad, bad, ms: performance.now() - t0 };
}

/**
 * The same checks split across worker threads (one per core): signature verification is the
 * cost, and each event is independent once the chain is followed. Small logs stay inline.
 */
export async function verifyLogParallel(
  db: Database,
  lib: string,
  keyOf: KeyLookup,
  opened: { path: string; key?: string },
): Promise<VerifyReport> {
  const t0 = performance.now();
  const count = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  const parts = Math.min(availableParallelism(), 8);
  if (count < 5000 || parts < 2) return verifyLog(db, lib, keyOf);
  const devs = (db.prepare('SELECT DISTINCT dev FROM events').all() as { dev: string }[]).map((r) => r.dev);
  const roster = devs.flatMap((d) => {
    const k = keyOf(d);
    return k ? [[d, k] as [string, Uint8Array]] : [];
  });
  const results = await Promise.all(
    Array.from(
      { length: parts },
      (_, part) =>
        new Promise<{ events: number; bad: number; firstBad?: BadEvent }>((resolve, reject) => {
          const w = new Worker(new URL('./verify-worker.js', import.meta.url), {
            workerData: { path: opened.path, key: opened.key, lib, part, parts, roster },
          });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  const bads = results.map((r) => r.firstBad).filter((b): b is BadEvent => !!b);
  bads.sort((a, b) => (a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : a.seq - b.seq));
  const bad = results.reduce((n, r) => n + r.bad, 0);
  return {
    ok: bad === 0,
    events: results[0]!.events,
    devices: devs.length,
    firstBad: bads[0],
    bad,
    ms: performance.now() - t0,
  };
}
