// Encryption at rest: the whole library database in SQLCipher format
// (better-sqlite3-multiple-ciphers), keyed with a raw 256-bit key derived from the user's
// passphrase with Argon2id. The salt and parameters sit beside the database in
// `<id>.keyinfo` (0600); the passphrase and the key are never written anywhere.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { argon2id } from 'hash-wasm';
import type Database from 'better-sqlite3-multiple-ciphers';
import { SdError } from '../errors.js';
import { writePrivateFile } from '../fsutil.js';

export interface KeyInfo {
  v: 1;
  kdf: 'argon2id';
  salt: string;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  /** Shown while the library is locked (the only thing readable without the passphrase). */
  name: string;
}

export const keyInfoPath = (dbPath: string): string => dbPath.replace(/\.db$/, '.keyinfo');

export function newKeyInfo(name: string): KeyInfo {
  return {
    v: 1,
    kdf: 'argon2id',
    salt: randomBytes(16).toString('hex'),
    memoryKiB: 65536,
    iterations: 3,
    parallelism: 1,
    name,
  };
}

export function readKeyInfo(dbPath: string): KeyInfo | undefined {
  const p = keyInfoPath(dbPath);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as KeyInfo;
  } catch {
    throw new SdError('E_CORRUPT_FILE', `${p} is not valid JSON`, { path: p });
  }
}

export function writeKeyInfo(dbPath: string, info: KeyInfo): void {
  writePrivateFile(keyInfoPath(dbPath), JSON.stringify(info, null, 2));
}

/** The name shown while the library is locked follows the library's renames. */
export function keepKeyInfoName(dbPath: string, name: string): void {
  try {
    const info = readKeyInfo(dbPath);
    if (info && info.name !== name) writeKeyInfo(dbPath, { ...info, name });
  } catch {
    // A damaged key info keeps its old name; `sd doctor` reports it.
  }
}

export async function deriveKey(passphrase: string, info: KeyInfo): Promise<string> {
  if (passphrase.length < 8) throw new SdError('E_WEAK_PASSPHRASE', 'a passphrase needs at least 8 characters');
  return argon2id({
    password: passphrase,
    salt: Buffer.from(info.salt, 'hex'),
    parallelism: info.parallelism,
    iterations: info.iterations,
    memorySize: info.memoryKiB,
    hashLength: 32,
    outputType: 'hex',
  });
}

/** Must run first on a new connection, before anything reads the file. */
export function applyKey(db: Database.Database, hexKey: string): void {
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  db.pragma(`key = "x'${hexKey}'"`);
}
