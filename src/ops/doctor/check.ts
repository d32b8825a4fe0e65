// `sd doctor`: checks every library database of a data dir directly from the files, with or
// without a daemon: SQLite's integrity check, then the log's signatures and chains, and says
// what can be recovered. Other devices' events can be fetched again from a peer; this device's
// own feed cannot be invented; projections can always be rebuilt from the log.
import Database from 'better-sqlite3-multiple-ciphers';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { replayCheck } from '../../projections/replay.js';
import { initHashing } from '../../events/hash.js';
import { keysFromPem } from '../../events/keys.js';
import { verifyLog } from '../../events/verify.js';
import { MIN_FREE_BYTES, freeBytes } from '../../disk.js';
import { applyKey, deriveKey, keyInfoPath, readKeyInfo, type KeyInfo } from '../../store/cipher.js';

export interface LibraryHealth {
  file: string;
  library: string;
  name: string | null;
  opens: boolean;
  integrity: string[];
  events: number | null;
  badEvents: number | null;
  firstBad: string | null;
  ownFeedDamaged: boolean;
  /** The projections against a fresh rebuild from the log (`sd replay --check`), when it could run. */
  projections: { equal: boolean; differing: string[]; mangled: number } | null;
  /** Encrypted and no passphrase given: checked only as far as that allows. */
  locked: boolean;
  /** False when the log has no `library.created` (a library that was never completely created). */
  created: boolean | null;
  advice: string[];
}

export async function doctor(dataDir: string): Promise<{
  dataDir: string;
  device: string | null;
  ok: boolean;
  disk: { freeBytes: number | null; full: boolean };
  libraries: LibraryHealth[];
}> {
  await initHashing();
  let self: string | null = null;
  try {
    self = keysFromPem(readFileSync(join(dataDir, 'device.key'), 'utf8')).id;
  } catch {
    self = null;
  }
  const dir = join(dataDir, 'libraries');
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /^[0-9a-f-]{36}\.db$/.test(f))
        .sort()
    : [];
  const libraries: LibraryHealth[] = [];
  for (const f of files) libraries.push(await checkOne(join(dir, f), f.slice(0, 36), self));
  // The disk holding the data dir: too little room and every write of the daemon fails.
  const free = freeBytes(dataDir);
  const disk = { freeBytes: free, full: free !== null && free < MIN_FREE_BYTES };
  const ok = !disk.full && libraries.every((l) => healthy(l));
  return { dataDir, device: self, ok, disk, libraries };
}

/** A locked library counts as healthy when what could be checked without its passphrase held. */
export function healthy(l: LibraryHealth): boolean {
  if (l.locked) return l.integrity.length === 0;
  return (
    l.opens &&
    l.integrity.length === 0 &&
    (l.badEvents ?? 0) === 0 &&
    l.created !== false &&
    l.projections?.equal !== false
  );
}

async function checkOne(file: string, id: string, self: string | null): Promise<LibraryHealth> {
  const h: LibraryHealth = {
    file,
    library: id,
    name: null,
    opens: false,
    integrity: [],
    events: null,
    badEvents: null,
    firstBad: null,
    ownFeedDamaged: false,
    projections: null,
    locked: false,
    created: null,
    advice: [],
  };
  let key: string | undefined;
  let db: Database.Database | undefined;
  let anchors: string[] = [];
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const info = readKeyInfo(file);
    if (info) {
      h.name = info.name;
      if (!process.env.SD_LIBRARY_PASSPHRASE) return checkLocked(h, file, info);
      key = await deriveKey(process.env.SD_LIBRARY_PASSPHRASE, info);
      applyKey(db, key);
    }
    const rows = db.pragma('quick_check(20)') as { quick_check: string }[];
    h.integrity = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
    h.opens = true;
    h.name ??=
      (db.prepare("SELECT value FROM library_meta WHERE key = 'name'").get() as { value: string } | undefined)?.value ??
      null;
    const keys = new Map(
      (db.prepare('SELECT dev, pubkey FROM devices').all() as { dev: string; pubkey: Buffer }[]).map((r) => [
        r.dev,
        new Uint8Array(r.pubkey),
      ]),
    );
    const r = verifyLog(db, id, (d) => keys.get(d));
    h.created = !!db.prepare("SELECT 1 FROM events WHERE type = 'library.created' LIMIT 1").get();
    try {
      anchors = (db.prepare('SELECT dev FROM trust_anchors').all() as { dev: string }[]).map((a) => a.dev);
    } catch {
      anchors = []; // a database from before trust anchors
    }
    h.events = r.events;
    h.badEvents = r.bad;
    if (r.firstBad) {
      h.firstBad = `${r.firstBad.dev}#${r.firstBad.seq} ${r.firstBad.code}: ${r.firstBad.reason}`;
      h.ownFeedDamaged = r.firstBad.dev === self;
    }
    if (!h.integrity.length) {
      const compared = compareProjections(file, id, db, key);
      if (typeof compared === 'string') h.advice.push(`the projections were not compared with the log: ${compared}`);
      else h.projections = compared;
    }
  } catch (e) {
    h.integrity.push((e as Error).message);
  } finally {
    db?.close();
  }
  if (!h.opens)
    h.advice.push(
      'SQLite cannot read this file: restore it from a backup; if the library is shared, rejoin it from a peer (`sd pair join`) to get every feed back, except events of this device that no peer has',
    );
  else if (h.integrity.length)
    h.advice.push(
      'the file has damaged pages: the log may still verify; export what verifies and rebuild the projections with a replay',
    );
  if (h.badEvents) {
    h.advice.push(
      h.ownFeedDamaged
        ? `this device's own feed is damaged from ${h.firstBad}: those events cannot be invented; a peer that received them before the damage can send them back`
        : 'events of another device are damaged: delete them from the bad one on and a peer resends that feed',
    );
  }
  if (h.created === false)
    h.advice.push(
      anchors.length
        ? `joined from ${anchors[0]!.slice(0, 8)}, but its history (the library's creation event) has not arrived yet: it comes when the devices link (\`sd sync status\`)`
        : `no creation event: this library was never completely created (an interrupted first start?); it holds ${h.events ?? 0} events; delete it with \`sd library delete ${id}\` (or restore it from a backup)`,
    );
  if (h.created === false && anchors.length) h.created = null; // waiting for its history is not damage
  if (h.projections && !h.projections.equal)
    h.advice.push(
      `the projections differ from the log (${h.projections.differing.join(', ')}): rebuild them with \`sd stop && sd replay --rebuild\``,
    );
  if (healthy(h)) h.advice.push('healthy; the projections can always be rebuilt from this log (`sd replay --rebuild`)');
  return h;
}

/** Without the passphrase: the key info is sound and the file is not plaintext SQLite. */
function checkLocked(h: LibraryHealth, file: string, info: KeyInfo): LibraryHealth {
  h.locked = true;
  if (info.kdf !== 'argon2id' || !/^[0-9a-f]{32}$/.test(info.salt ?? ''))
    h.integrity.push(`the key info ${keyInfoPath(file)} is damaged (unknown key derivation or salt)`);
  const head = Buffer.alloc(16);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') === 'SQLite format 3\u0000')
    h.integrity.push('the key info says encrypted, but the database file is plaintext SQLite');
  h.advice.push(
    h.integrity.length
      ? 'the key info and the database disagree: restore the .keyinfo file or the database from a backup'
      : 'encrypted and locked: its key info and encryption are in order; set SD_LIBRARY_PASSPHRASE to check its log too',
  );
  return h;
}

/** `sd replay --check` on the file itself: a second connection for FTS5's check, which it counts as a write. */
function compareProjections(
  file: string,
  id: string,
  ro: Database.Database,
  key: string | undefined,
): LibraryHealth['projections'] | string {
  const writer = new Database(file, { fileMustExist: true });
  try {
    if (key) applyKey(writer, key);
    writer.pragma('busy_timeout = 5000');
    const r = replayCheck({
      live: ro,
      writer,
      lib: id,
      tmpDir: join(dirname(dirname(file)), 'tmp'),
      prepare: (fresh) => key && applyKey(fresh, key),
      catchUp: false,
    });
    return { equal: r.equal, differing: r.differing, mangled: r.mangled.length };
  } catch (e) {
    return (e as Error).message; // a daemon holding the write lock, say: said, not counted as damage
  } finally {
    writer.close();
  }
}
