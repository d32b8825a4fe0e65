// The library's event log: one single-writer, hash-chained feed per device, stored in the
// library's SQLite database next to the projections so an append and its projection share
// one transaction.
import type { Database, Statement } from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { decodeEvent, encodeEvent, type EventFields } from './codec.js';
import { blake3 } from './hash.js';
import { compareHlc, HlcClock, MAX_CLOCK_SKEW_MS, type Hlc } from './hlc.js';
import { catalogueCheck, MAX_EVENT_BYTES } from './catalogue.js';
import { signRaw, type DeviceKeys } from './keys.js';
import { dropSignature, queueSignature, signThreadReady, startSignThread, takeSignature } from './sign-pool.js';
import { codeOf } from '../error-codes.js';

export interface StoredEvent extends EventFields {
  hash: Uint8Array;
  sig: Uint8Array;
  bytes: Uint8Array;
}

export const LOG_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  dev TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, hlc_ms INTEGER NOT NULL,
  hlc_c INTEGER NOT NULL, type TEXT NOT NULL, bytes BLOB NOT NULL, sig BLOB NOT NULL,
  PRIMARY KEY (dev, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_time ON events (hlc_ms, hlc_c, dev, seq);
CREATE INDEX IF NOT EXISTS events_roster ON events (dev, seq)
  WHERE type IN ('library.created', 'device.added', 'device.role', 'device.revoked', 'device.renamed');
CREATE INDEX IF NOT EXISTS events_shared ON events (dev, seq) WHERE type IN ('shared.created', 'shared.changed');
`;

/** The highest seq per device: a skip-scan of the primary key, one index seek per device. */
export const HEADS_SQL = `WITH RECURSIVE d(dev) AS (SELECT MIN(dev) FROM events
    UNION ALL SELECT (SELECT MIN(dev) FROM events WHERE dev > d.dev) FROM d WHERE d.dev IS NOT NULL)
  SELECT dev, (SELECT MAX(seq) FROM events WHERE events.dev = d.dev) AS seq FROM d WHERE dev IS NOT NULL`;

interface Row {
  dev: string;
  seq: number;
  hash: Buffer;
  type: string;
  bytes: Buffer;
  sig: Buffer;
}

export function rowToEvent(row: Row): StoredEvent {
  const f = decodeEvent(row.bytes);
  return { ...f, hash: new Uint8Array(row.hash), sig: new Uint8Array(row.sig), bytes: new Uint8Array(row.bytes) };
}

/** What an own event's row holds until its group's commit writes the signature (never committed). */
const PLACEHOLDER_SIG = new Uint8Array(64);
/** Own appends in one group before the signing thread is worth starting (a small group signs in place). */
const SIGN_THREAD_AFTER = 64;
/** The first own appends of each group are signed in place. */
const SIGN_IN_PLACE = 8;

export class EventLog {
  readonly clock: HlcClock;
  private readonly insert: Statement;
  private readonly headStmt: Statement;
  private readonly getStmt: Statement;
  private readonly headsStmt: Statement;
  private readonly setSig: Statement;
  private head: { seq: number; hash: Uint8Array | null };
  /** Own events stored with a placeholder signature, and their slot in the signing ring. */
  private unsigned: { ev: StoredEvent; slot: number }[] = [];
  /** Own appends since the last settle(): a large group starts the signing thread. */
  private sinceSettle = 0;

  constructor(
    private readonly db: Database,
    readonly lib: string,
    private readonly keys: DeviceKeys,
  ) {
    db.exec(LOG_SCHEMA);
    this.insert = db.prepare(
      'INSERT INTO events (dev, seq, hash, hlc_ms, hlc_c, type, bytes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.setSig = db.prepare('UPDATE events SET sig = ? WHERE dev = ? AND seq = ? AND hash = ?');
    this.headStmt = db.prepare('SELECT seq, hash FROM events WHERE dev = ? ORDER BY seq DESC LIMIT 1');
    this.getStmt = db.prepare('SELECT dev, seq, hash, type, bytes, sig FROM events WHERE dev = ? AND seq = ?');
    this.headsStmt = db.prepare(HEADS_SQL);
    const h = this.headStmt.get(keys.id) as { seq: number; hash: Buffer } | undefined;
    this.head = h ? { seq: h.seq, hash: new Uint8Array(h.hash) } : { seq: 0, hash: null };
    // The clock resumes after our own last event and the latest received one within the allowed
    // skew: a far-future event stored earlier must not capture it at the next start.
    const own = db
      .prepare('SELECT hlc_ms AS ms, hlc_c AS c FROM events WHERE dev = ? ORDER BY seq DESC LIMIT 1')
      .get(keys.id) as Hlc | undefined;
    const seen = db
      .prepare('SELECT hlc_ms AS ms, hlc_c AS c FROM events WHERE hlc_ms <= ? ORDER BY hlc_ms DESC, hlc_c DESC LIMIT 1')
      .get(Date.now() + MAX_CLOCK_SKEW_MS) as Hlc | undefined;
    const start = [own, seen].reduce<Hlc>((a, b) => (b && compareHlc(b, a) > 0 ? b : a), { ms: 0, c: 0 });
    this.clock = new HlcClock(start);
  }

  get deviceId(): string {
    return this.keys.id;
  }

  /**
   * Appends one event of this device. Call inside the transaction that projects it. `deferSign`:
   * the caller calls settle() before that transaction commits, so the signature may be made on the
   * signing thread meanwhile (the row holds a placeholder until then).
   */
  append(type: string, body: unknown, deferSign = false): StoredEvent {
    if (!this.db.inTransaction) throw new SdError('E_INTERNAL', 'append outside a transaction');
    const fields: EventFields = {
      lib: this.lib,
      dev: this.keys.id,
      seq: this.head.seq + 1,
      prev: this.head.hash,
      hlc: this.clock.now(),
      type,
      body,
    };
    const bytes = encodeEvent(fields);
    // Our own events obey the catalogue too: a bug here must fail the command, not reach the log.
    const bad =
      bytes.length > MAX_EVENT_BYTES
        ? { code: 'E_EVENT_TOO_LARGE', reason: `${bytes.length} bytes` }
        : catalogueCheck(fields, bytes.length);
    if (bad) throw new SdError(codeOf(bad.code, 'E_BAD_EVENT'), `cannot record ${type}: ${bad.reason}`);
    const hash = blake3(bytes);
    const slot = deferSign ? this.queueSign(hash) : -1;
    const sig = slot < 0 ? signRaw(this.keys.secretKey, hash) : PLACEHOLDER_SIG;
    this.insert.run(fields.dev, fields.seq, hash, fields.hlc.ms, fields.hlc.c, type, bytes, sig);
    this.head = { seq: fields.seq, hash };
    const ev = { ...fields, hash, sig, bytes };
    if (slot >= 0) this.unsigned.push({ ev, slot });
    return ev;
  }

  private queueSign(hash: Uint8Array): number {
    const n = ++this.sinceSettle;
    if (n === SIGN_THREAD_AFTER) startSignThread();
    // A command's few events sign in place: handing them over would only add a row update each.
    return n > SIGN_IN_PLACE && signThreadReady() ? queueSignature(this.keys.secretKey, hash) : -1;
  }

  /**
   * Writes the signature of every own event appended with `deferSign` into its row (and event):
   * call inside the transaction, before it commits. A row a rolled-back savepoint removed (or
   * replaced with another event of the same seq) is left alone: the hash must match.
   */
  settle(): void {
    this.sinceSettle = 0;
    const list = this.unsigned;
    if (list.length === 0) return;
    this.unsigned = [];
    // Newest first: the thread works from the oldest, so the two meet in the middle. Every slot is
    // taken back before the first write, so a failed write (full disk) leaves none behind.
    for (let i = list.length - 1; i >= 0; i--)
      list[i]!.ev.sig = takeSignature(list[i]!.slot, this.keys.secretKey, list[i]!.ev.hash);
    for (const { ev } of list) this.setSig.run(ev.sig, ev.dev, ev.seq, ev.hash);
  }

  /** The lowest seq of `dev` whose row still holds a placeholder signature (Infinity: none). */
  unsignedFrom(dev: string): number {
    if (dev !== this.keys.id || this.unsigned.length === 0) return Infinity;
    let low = Infinity;
    for (const u of this.unsigned) low = Math.min(low, u.ev.seq);
    return low;
  }

  /** The transaction that held the unsigned events rolled back: their slots are freed. */
  discardUnsigned(): void {
    this.sinceSettle = 0;
    for (const { slot } of this.unsigned) dropSignature(slot);
    this.unsigned = [];
  }

  /** Stores an event of another device that the caller has verified. Call inside a transaction. */
  insertVerified(ev: StoredEvent): void {
    if (!this.db.inTransaction) throw new SdError('E_INTERNAL', 'insert outside a transaction');
    this.insert.run(ev.dev, ev.seq, ev.hash, ev.hlc.ms, ev.hlc.c, ev.type, ev.bytes, ev.sig);
    this.clock.receive(ev.hlc);
  }

  /** The highest seq and its hash held for a device. */
  headOf(dev: string): { seq: number; hash: Uint8Array | null } {
    const h = this.headStmt.get(dev) as { seq: number; hash: Buffer } | undefined;
    return h ? { seq: h.seq, hash: new Uint8Array(h.hash) } : { seq: 0, hash: null };
  }

  /** Re-reads this device's head (after a rolled-back transaction). */
  reloadHead(): void {
    const h = this.headStmt.get(this.keys.id) as { seq: number; hash: Buffer } | undefined;
    this.head = h ? { seq: h.seq, hash: new Uint8Array(h.hash) } : { seq: 0, hash: null };
  }

  get(dev: string, seq: number): StoredEvent | undefined {
    const row = this.getStmt.get(dev, seq) as Row | undefined;
    return row ? rowToEvent(row) : undefined;
  }

  /**
   * The highest seq held per device. A skip-scan over the primary key (one index seek per device):
   * `GROUP BY dev` read every event, and the feed asks on every batch it stores or acknowledges.
   */
  heads(): Map<string, number> {
    const rows = this.headsStmt.all() as { dev: string; seq: number }[];
    return new Map(rows.map((r) => [r.dev, r.seq]));
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  }
}
