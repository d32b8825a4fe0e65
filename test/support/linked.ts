// Devices in one process: real Cores in temporary data dirs, a library joined by adding the
// device to the roster, and FeedSessions over in-memory channels in place of a PeerLink.
import type { ExecutionContext } from 'ava';
import { Core } from '../../src/core.js';
import type { Library } from '../../src/library/library.js';
import { FeedSession } from '../../src/sync/feed.js';
import { memoryChannelPair } from '../../src/sync/memory-channel.js';
import { tempDir } from '../helpers.js';

/** A Core that stops when the test ends; with `services` (jobs, so locations index). */
export async function device(t: ExecutionContext, services = true, dir = tempDir(t)): Promise<Core> {
  const c = await Core.open(dir, { services });
  t.teardown(() => c.close());
  return c;
}

/** Feed sessions between two copies of one library; `close()` cuts them (also at the test's end). */
export function link(t: ExecutionContext, a: Library, b: Library): { close(): void } {
  const ends = memoryChannelPair(
    () => 'a',
    () => 'b',
  );
  new FeedSession(a, ends[0]).start();
  new FeedSession(b, ends[1]).start();
  const close = (): void => ends[0].close();
  t.teardown(close);
  return { close };
}

/** `b` joins `lib` of `a`: `a` adds it to the roster, `b` opens the empty library (as pairing does). */
export async function joinLibrary(a: Core, b: Core, lib: Library = a.libraries.resolve()): Promise<Library> {
  lib.write(() => lib.append('device.added', { dev: b.device.id, pubkey: b.device.publicKey, name: b.device.name }));
  return b.libraries.join(lib.id, { dev: a.device.id, pubkey: a.device.publicKey });
}

export const headsEqual = (a: Library, b: Library): boolean =>
  JSON.stringify([...a.log.heads()].sort()) === JSON.stringify([...b.log.heads()].sort());

/** Polls `cond` every 20 ms, for at most `ms`. */
export async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until both copies hold the same events and the member's shared documents are open. */
export async function synced(a: Library, b: Library, what = 'the libraries in sync'): Promise<void> {
  await until(what, () => headsEqual(a, b));
  await b.sharedOpening;
  await a.sharedOpening;
}
