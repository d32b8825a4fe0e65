// What the pool's callers get back from its threads' replies: results and attributes in the order
// the paths were asked, each reply checked against what was asked (a thread that answers for more
// or fewer files is E_HASH_WORKER, never a result shifted onto another path).
import { SdError } from '../errors.js';
import { KINDS } from './kind.js';
import type { HashReply, LstatColumns } from './hash-wire.js';
import type { HashPath, HashResult } from './hash-pool-api.js';
import { statColumns } from './walk-stat.js';

export function statsOf(n: number, done: HashReply[]): LstatColumns {
  const stats = statColumns(n);
  let at = 0;
  for (const { stats: s } of done) {
    if (!s) throw new SdError('E_HASH_WORKER', "a worker answered a hash batch without the files' attributes");
    if (at + s.flags.length > n)
      throw new SdError('E_HASH_WORKER', 'a worker answered for more files than it was asked');
    stats.flags.set(s.flags, at);
    stats.size.set(s.size, at);
    stats.mtimeMs.set(s.mtimeMs, at);
    stats.ino.set(s.ino, at);
    stats.dev.set(s.dev, at);
    for (const [i, code, message] of s.errors) stats.errors.push([at + i, code, message]);
    at += s.flags.length;
  }
  if (at !== n) throw new SdError('E_HASH_WORKER', 'a worker answered for fewer files than it was asked');
  return stats;
}

export function resultsOf(paths: readonly HashPath[], done: HashReply[]): HashResult[] {
  const out: HashResult[] = new Array(paths.length);
  let k = 0;
  for (const { hashed } of done) {
    if (!hashed) throw new SdError('E_HASH_WORKER', 'a worker answered a hash batch without results');
    const { ids, sizes, kinds, errors } = hashed;
    const base = k;
    if (k + sizes.length > paths.length)
      throw new SdError('E_HASH_WORKER', 'a worker answered for more files than it was asked');
    for (let i = 0; i < sizes.length; i++, k++)
      out[k] = {
        path: paths[k]!,
        contentId: ids.slice(i * 32, i * 32 + 32),
        size: sizes[i]!,
        kind: KINDS[kinds[i]!]!,
      };
    for (const [i, code, message] of errors) out[base + i] = { path: paths[base + i]!, error: { code, message } };
  }
  if (k !== paths.length) throw new SdError('E_HASH_WORKER', 'a worker answered for fewer files than it was asked');
  return out;
}
