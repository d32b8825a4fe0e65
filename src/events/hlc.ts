// Hybrid logical clock: never goes backwards, also after receiving a future-dated clock. A received
// clock moves ours only within MAX_CLOCK_SKEW_MS of our wall clock: an event dated further ahead is
// stored and shown (flagged) but cannot drag every later local event into its future.
/** How far ahead of our wall clock a received event may be and still move our clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export interface Hlc {
  ms: number;
  c: number;
}

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.ms - b.ms || a.c - b.c;
}

export class HlcClock {
  private last: Hlc;
  constructor(
    start: Hlc = { ms: 0, c: 0 },
    private readonly wall: () => number = Date.now,
  ) {
    this.last = { ...start };
  }

  now(): Hlc {
    const wall = this.wall();
    if (wall > this.last.ms) this.last = { ms: wall, c: 0 };
    else this.last = { ms: this.last.ms, c: this.last.c + 1 };
    return { ...this.last };
  }

  /** Merges a remote clock so that every later local timestamp is after it. */
  receive(remote: Hlc): Hlc {
    const wall = this.wall();
    if (remote.ms > wall + MAX_CLOCK_SKEW_MS) return { ...this.last };
    const ms = Math.max(wall, this.last.ms, remote.ms);
    let c: number;
    if (ms === this.last.ms && ms === remote.ms) c = Math.max(this.last.c, remote.c) + 1;
    else if (ms === this.last.ms) c = this.last.c + 1;
    else if (ms === remote.ms) c = remote.c + 1;
    else c = 0;
    this.last = { ms, c };
    return { ...this.last };
  }

  peek(): Hlc {
    return { ...this.last };
  }
}
