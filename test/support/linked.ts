// Devices in one process: real Cores in temporary data dirs, a library joined by adding the
// device to the roster, and FeedSessions over in-memory channels in place of a PeerLink.
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Core } from '../../src/core.js';
import type { Library } from '../../src/library/library.js';
import { FeedSession } from '../../src/sync/feed.js';
import { memoryChannelPair } from './memory-channel.js';
import { addLocation } from '../entry/helpers.js';
import { tempDir } from '../helpers.js';
import { until } from './until.js';

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

export { until };

/** Waits until both copies hold the same events and the member's shared documents are open. */
export async function synced(a: Library, b: Library, what = 'the libraries in sync'): Promise<void> {
  await until(what, () => headsEqual(a, b), 15_000);
  await b.sharedOpening;
  await a.sharedOpening;
}

/** A folder with `files` (name -> content), real path. */
export function folder(t: ExecutionContext, files: Record<string, string>): string {
  const root = realpathSync(tempDir(t, 'sd-loc-'));
  for (const [n, body] of Object.entries(files)) {
    mkdirSync(join(root, n, '..'), { recursive: true });
    writeFileSync(join(root, n), body);
  }
  return root;
}

export interface Pair {
  a: Core;
  b: Core;
  la: Library;
  lb: Library;
  ra: string;
  rb: string;
  connect(): Promise<void>;
  apart(): void;
}

/** A and B in one library, each with an indexed folder, linked and in sync. */
export async function pair(t: ExecutionContext): Promise<Pair> {
  const a = await device(t);
  const b = await device(t);
  const la = a.libraries.resolve();
  const lb = await joinLibrary(a, b);
  await b.libraries.adoptJoined(lb.id);
  let l = link(t, la, lb);
  await synced(la, lb);
  const ra = folder(t, { 'a1.jpg': 'only on a', 'a2.jpg': 'second on a', 'shared.jpg': 'both have this' });
  const rb = folder(t, { 'b1.jpg': 'only on b', 'b2.jpg': 'second on b', 'same.jpg': 'both have this' });
  await addLocation(a, ra);
  await addLocation(b, rb);
  await synced(la, lb);
  return {
    a,
    b,
    la,
    lb,
    ra,
    rb,
    apart: () => l.close(),
    connect: async () => {
      l = link(t, la, lb);
      await synced(la, lb);
    },
  };
}
