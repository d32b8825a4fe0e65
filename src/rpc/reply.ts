// The client's check of the daemon's replies, by hand rather than with zod: the CLI starts
// for every command, and loading zod alone costs more than the rest of `sd status`.
import type { ServerMessage } from './protocol.js';

export const CONNECTION_ID = 0;

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function parseServerMessage(raw: unknown): ServerMessage | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const m = raw as Record<string, unknown>;
  if (!isId(m.id)) return undefined;
  if (m.ok === true) return { id: m.id, ok: true, result: m.result };
  if (m.ok === false) {
    const e = m.error as Record<string, unknown> | undefined;
    if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') return undefined;
    const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : undefined;
    return {
      id: m.id,
      ok: false,
      error: details ? { code: e.code, message: e.message, details } : { code: e.code, message: e.message },
    } as ServerMessage;
  }
  if (m.end === true) return { id: m.id, end: true };
  if ('item' in m) return { id: m.id, item: m.item };
  return undefined;
}
