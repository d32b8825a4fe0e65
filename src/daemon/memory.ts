// Giving memory back after a big job. glibc keeps what the process freed (SQLite's page caches,
// buffers, the worker threads' arenas) for reuse, and only `malloc_trim` returns the free pages
// in the middle of its heaps to the system: measured on a daemon that indexed 100,000 files,
// tagged 10,000 and synced with two peers, RSS went from 227 to 147 MB idle with one call.
// Node has no binding for it, so it is reached through koffi (an optional dependency); without
// it (not installed, not glibc) only SQLite's caches are emptied.
// The daemon checks every few seconds: when the last interval was quiet (under a fifth of a
// core) after work (a quarter second of CPU since the last release, or RSS 8 MiB above it), it
// empties the caches, collects the JS heap and trims. Work that frees what it took leaves RSS where it was and the
// freed pages with glibc, so RSS growth alone would miss it; and a release in a pause of a sync
// must not be the last one. One release took 7 ms at 280 MB: an idle daemon's heartbeats add up
// to a release every few minutes at most.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Packr } from 'msgpackr';
import { libcFunction } from '../native/libc.js';

/** What the last release did, for `sd status`. */
export interface MemoryRelease {
  at: number;
  before: number;
  after: number;
  ms: number;
  /** true when glibc's free pages were returned (malloc_trim), false when only caches were emptied. */
  trimmed: boolean;
}

export interface MemoryProbes {
  rss(): number;
  /** CPU time used by the process so far, in microseconds. */
  cpuMicros(): number;
  now(): number;
}

export interface ReleaserOptions {
  /** Empties caches the daemon holds (SQLite's `shrink_memory` on every open connection). */
  shrink: () => void;
  /** A full garbage collection, between `shrink` and `trim`: what the caches let go is freed before the trim. */
  collect?: (() => void) | undefined;
  /** Returns the allocator's free pages; undefined where it cannot (then only `shrink` runs). */
  trim?: (() => void) | undefined;
  intervalMs?: number;
  /** Growth of RSS since the last release that is worth a release (bytes). */
  growth?: number;
  /** CPU time since the last release that is worth one (ms): work frees what it took. */
  workMs?: number;
  /** Share of one core under which an interval counts as quiet. */
  quietShare?: number;
  probes?: MemoryProbes;
  onRelease?: (r: MemoryRelease) => void;
}

export interface MemoryReleaser {
  /** Runs one check now (what the timer does): returns the release it made, if any. */
  check(): MemoryRelease | undefined;
  /** Releases now, quiet or not (before a big job: what earlier work left is not its peak's base). */
  release(): MemoryRelease;
  last(): MemoryRelease | undefined;
  stop(): void;
}

const realProbes: MemoryProbes = {
  rss: () => process.memoryUsage.rss(),
  cpuMicros: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  now: () => Date.now(),
};

/** glibc's `malloc_trim(0)` through koffi, or undefined where that is not available. */
export function loadMallocTrim(): (() => void) | undefined {
  const fn = libcFunction('int malloc_trim(size_t)');
  return fn && (() => void fn(0));
}

/**
 * V8's full collection, for the release only. Buffers (msgpackr's old one, a sync's messages) are
 * freed when V8 collects their objects, which an idle daemon may not do for a long while: at
 * 1,000,000 entries, 30 s after the work, `sd status` showed 57 MiB of buffers and glibc's heap 59
 * MiB; after one full collection and a trim, 130 MiB in all instead of 159. Node gives `gc` only
 * to contexts made after `--expose-gc` is set, so the flag is set and a context asked for it.
 */
export function loadFullGc(): (() => void) | undefined {
  const global = globalThis as { gc?: () => void };
  if (typeof global.gc === 'function') return global.gc;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => void (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

export function startMemoryReleaser(opts: ReleaserOptions): MemoryReleaser {
  const probes = opts.probes ?? realProbes;
  const intervalMs = opts.intervalMs ?? 5_000;
  const growth = opts.growth ?? 8 * 1024 * 1024;
  const quietShare = opts.quietShare ?? 0.2;
  const workMicros = (opts.workMs ?? 250) * 1000;
  let baseline = probes.rss();
  let cpu = probes.cpuMicros();
  let cpuAtRelease = cpu;
  let at = probes.now();
  let last: MemoryRelease | undefined;

  const check = (): MemoryRelease | undefined => {
    const cpuNow = probes.cpuMicros();
    const now = probes.now();
    const share = (cpuNow - cpu) / 1000 / Math.max(1, now - at);
    cpu = cpuNow;
    at = now;
    const before = probes.rss();
    // A smaller process after a release elsewhere (V8 shrank its heap) lowers the bar.
    if (before < baseline) baseline = before;
    const worked = cpuNow - cpuAtRelease >= workMicros || before - baseline >= growth;
    if (share >= quietShare || !worked) return undefined;
    return release(before, now);
  };
  const release = (before = probes.rss(), now = probes.now()): MemoryRelease => {
    const t0 = performance.now();
    try {
      opts.shrink();
    } catch {
      // a connection closing under us: its cache goes with it
    }
    opts.collect?.();
    opts.trim?.();
    const after = probes.rss();
    baseline = after;
    // The release's own CPU time is not the next interval's work.
    cpu = probes.cpuMicros();
    cpuAtRelease = cpu;
    last = { at: now, before, after, ms: performance.now() - t0, trimmed: opts.trim !== undefined };
    opts.onRelease?.(last);
    return last;
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { check, release: () => release(), last: () => last, stop: () => clearInterval(timer) };
}

/** The daemon's releaser, while it runs (startLibraryReleaser). */
let running: MemoryReleaser | undefined;
/** A release asked for by work (releaseBeforeWork) is skipped when the last one is more recent than this. */
const WORK_RELEASE_GAP_MS = 10_000;

/**
 * Before a job whose peak matters (a transfer's fetch): releases what earlier work left (garbage
 * not collected yet, SQLite's caches, glibc's free pages), so the job's peak starts from the
 * daemon's floor, not from wherever the last busy spell left it. A full collection costs a few
 * milliseconds; at most one every 10 s. Nothing outside a daemon (no releaser running).
 */
export function releaseBeforeWork(): MemoryRelease | undefined {
  const last = running?.last();
  if (!running || (last && Date.now() - last.at < WORK_RELEASE_GAP_MS)) return undefined;
  return running.release();
}

// msgpackr packs every message of every Packr into one buffer it shares between them, grows it to
// the largest message packed so far and keeps it: 8 MiB after a day's work on 200,000 files (a
// heap snapshot of the idle daemon). Any instance can hand it a fresh one; what was packed before
// stays valid (it is a view of the old buffer, which is freed with the last such view).
const packBufferOwner = new Packr();
const PACK_BUFFER_BYTES = 8192;

/** Gives msgpackr a small buffer in place of the one the biggest message grew (it grows again on use). */
export function releasePackBuffer(): void {
  packBufferOwner.useBuffer(Buffer.allocUnsafeSlow(PACK_BUFFER_BYTES));
}

/**
 * The daemon's releaser: the caches are those of every open library and msgpackr's buffer, the
 * trim glibc's. Shared by
 * the daemon and the benches that stand in for it.
 */
export function startLibraryReleaser(
  libraries: () => Iterable<{ shrinkMemory(): void }>,
  opts: Pick<ReleaserOptions, 'intervalMs' | 'onRelease'> = {},
): MemoryReleaser {
  const r = startMemoryReleaser({
    shrink: () => {
      releasePackBuffer();
      for (const lib of libraries()) lib.shrinkMemory();
    },
    collect: loadFullGc(),
    trim: loadMallocTrim(),
    ...opts,
  });
  running = r;
  return {
    ...r,
    stop: () => {
      if (running === r) running = undefined;
      r.stop();
    },
  };
}
