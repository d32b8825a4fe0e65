// Errors are values with a stable code (from the catalogue in error-codes.ts) and a sentence a user
// can act on.
import { isErrorCode, type ErrorCode } from './error-codes.js';

export { ERROR_CODES, isErrorCode, type ErrorCode } from './error-codes.js';

/** Marks every SdError, whichever copy of this module made it (see `Symbol.hasInstance` below). */
const SD_ERROR = Symbol.for('vdfs.SdError');

export class SdError extends Error {
  /**
   * The CLI runs from a one-file bundle holding its own copy of this class, while `sd doctor` and
   * `sd log rebuild` load the compiled modules beside it: an error made by either copy is an SdError.
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as { [SD_ERROR]?: unknown })[SD_ERROR] === true;
  }
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SdError';
    this.code = code;
    this.details = details;
  }
  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}
Object.defineProperty(SdError.prototype, SD_ERROR, { value: true });

export function isSdError(e: unknown): e is SdError {
  return e instanceof SdError;
}

/** Turns anything thrown into the `{code, message}` shape that crosses the RPC boundary. */
export function toErrorValue(e: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  if (e instanceof SdError) return e.toJSON();
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC')
    return { code: 'E_DISK_FULL', message: `the disk holding the data dir is full (${message}); free some space` };
  return { code: 'E_INTERNAL', message };
}
