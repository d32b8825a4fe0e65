// Canonical event encoding: a msgpack array in a fixed field order, so the same event always
// encodes to the same bytes and its BLAKE3 hash is stable across devices.
import { Packr, Unpackr } from 'msgpackr';
import { SdError } from '../errors.js';
import type { Hlc } from './hlc.js';

export const EVENT_VERSION = 1;

export interface EventFields {
  lib: string;
  dev: string;
  seq: number;
  prev: Uint8Array | null;
  hlc: Hlc;
  type: string;
  body: unknown;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function unpack(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

export function encodeEvent(e: EventFields): Uint8Array {
  return packr.pack([EVENT_VERSION, e.lib, e.dev, e.seq, e.prev, e.hlc.ms, e.hlc.c, e.type, e.body]);
}

export function decodeEvent(bytes: Uint8Array): EventFields {
  let a: unknown;
  try {
    a = unpackr.unpack(bytes);
  } catch (err) {
    throw new SdError('E_BAD_EVENT', `event bytes do not decode: ${(err as Error).message}`);
  }
  if (!Array.isArray(a) || a.length !== 9 || a[0] !== EVENT_VERSION) {
    throw new SdError('E_BAD_EVENT', 'event bytes are not a version-1 event');
  }
  const [, lib, dev, seq, prev, ms, c, type] = a;
  if (
    typeof lib !== 'string' ||
    typeof dev !== 'string' ||
    !Number.isInteger(seq) ||
    typeof type !== 'string' ||
    !Number.isInteger(ms) ||
    !Number.isInteger(c)
  ) {
    throw new SdError('E_BAD_EVENT', 'event fields have the wrong types');
  }
  if (prev !== null && !(prev instanceof Uint8Array)) throw new SdError('E_BAD_EVENT', 'event prev is not bytes');
  return { lib, dev, seq, prev: prev ? new Uint8Array(prev) : null, hlc: { ms, c }, type, body: a[8] };
}
