// Cuts a list of items into the bodies of several events: at most `count` items each, and few
// enough bytes that the event stays under its type's size limit. Counting alone was not enough:
// 1,000 entries whose paths are 2 KiB long (legal on Linux, where a path may hold 4,096 bytes)
// made an `entries.upserted` of 2.2 MB, over its 2 MiB limit, and the whole index job failed.

import { sizeLimitOf, type EventType } from './catalogue.js';

/** Room kept for the event's other fields, its envelope and signature. */
const MARGIN = 64 * 1024;

/**
 * An upper bound of an item's encoded size: a string by 3 bytes per UTF-16 unit (UTF-8's most),
 * a number as 9. Cheap (no encoding): it runs for every entry of every batch.
 */
export function encodedSize(v: unknown): number {
  if (typeof v === 'string') return v.length * 3 + 5;
  if (Array.isArray(v)) {
    let n = 5;
    for (let i = 0; i < v.length; i++) n += encodedSize(v[i]);
    return n;
  }
  if (v !== null && typeof v === 'object') {
    let n = 5;
    for (const k in v) n += k.length * 3 + 5 + encodedSize((v as Record<string, unknown>)[k]);
    return n;
  }
  return 9;
}

/** Consecutive slices of `items`, each at most `count` long and small enough for an event of `type`. */
export function* inBatches<T>(items: readonly T[], count: number, type: EventType): Generator<T[]> {
  const budget = sizeLimitOf(type) - MARGIN;
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    const size = encodedSize(items[i]);
    if (i > start && (i - start >= count || bytes + size > budget)) {
      yield items.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < items.length) yield items.slice(start);
}
