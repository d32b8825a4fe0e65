// The RPC auth token: a random secret in <data-dir>/rpc.token that only the owner can read.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';

export const TOKEN_FILE = 'rpc.token';
const TOKEN_RE = /^[0-9a-f]{64}$/;

export function tokenPath(dataDir: string): string {
  return join(dataDir, TOKEN_FILE);
}

/**
 * Returns the data dir's token, creating it (32 random bytes, hex, mode 0600 whatever the umask)
 * if there is none. Creation is atomic and never overwrites: a temp file is written, then
 * hard-linked into place, so a concurrent starter or a crash never leaves a half-written token.
 */
export function ensureToken(dataDir: string): string {
  const path = tokenPath(dataDir);
  const existing = tryRead(path);
  if (existing !== undefined) {
    fixMode(path);
    if (TOKEN_RE.test(existing)) return existing;
    // An unusable token (truncated, edited) is replaced rather than trusted.
    unlinkSync(path);
  }
  const token = randomBytes(32).toString('hex');
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600); // the open mode is filtered by the umask; fchmod is not
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Someone else created it first: theirs wins.
    unlinkSync(tmp);
    return readToken(dataDir);
  }
  unlinkSync(tmp);
  return token;
}

/** Reads the token a client must present; E_NO_TOKEN if the daemon never created one. */
export function readToken(dataDir: string): string {
  const path = tokenPath(dataDir);
  const token = tryRead(path);
  if (token === undefined)
    throw new SdError('E_NO_TOKEN', `there is no RPC token at ${path}; start the daemon with \`sd start\``);
  if (!TOKEN_RE.test(token))
    throw new SdError(
      'E_BAD_TOKEN_FILE',
      `the RPC token at ${path} is not 64 hex characters; restart the daemon to replace it`,
    );
  return token;
}

/** Compares two tokens in time that depends on neither content nor length. */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function fixMode(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}
