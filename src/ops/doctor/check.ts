// `sd doctor`: checks every library database of a data dir directly from the files, with or
// without a daemon: SQLite's integrity check, then the log's signatures and chains, and says
// what can be recovered. Other devices' events can be fetched again from a peer; this device's
// own feed cannot be invented; projections can always be rebuilt from the log.
import Database from 'better-sqlite3-multiple-ciphers';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initHashing } from '../../events/hash.js';
import { keysFromPem } from '../../events/keys.js';
import { verifyLog } from '../../events/verify.js';
import { MIN_FREE_BYTES, freeBytes } from '../../disk.js';
import { applyKey, deriveKey, readKeyInfo } from '../../library/crypto.js';

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
  const ok = !disk.full && libraries.every((l) => l.opens && l.integrity.length === 0 && (l.badEvents ?? 0) === 0);
  return { dataDir, device: self, ok, disk, libraries };
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
    advice: [],
  };
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const info = readKeyInfo(file);
    if (info) {
      h.name = info.name;
      if (!process.env.SD_LIBRARY_PASSPHRASE) {
        h.advice.push('encrypted: set SD_LIBRARY_PASSPHRASE to check it');
        return h;
      }
      applyKey(db, await deriveKey(process.env.SD_LIBRARY_PASSPHRASE, info));
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
    h.events = r.events;
    h.badEvents = r.bad;
    if (r.firstBad) {
      h.firstBad = `${r.firstBad.dev}#${r.firstBad.seq} ${r.firstBad.code}: ${r.firstBad.reason}`;
      h.ownFeedDamaged = r.firstBad.dev === self;
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
  if (h.opens && !h.integrity.length && !h.badEvents)
    h.advice.push('healthy; projections can always be rebuilt from this log (`sd replay --check`)');
  return h;
}
