// Where an index job's time goes: wall time and items per phase, kept in the job's checkpoint
// (so it survives a pause or a restart and `job.info` can show it once the job is done).
export const PHASES = ['walk', 'diff', 'identify', 'commit', 'aggregate'] as const;
export type PhaseName = (typeof PHASES)[number];

/** Milliseconds spent in a phase and how many items (entries walked, files hashed...) it handled. */
export interface PhaseTime {
  ms: number;
  n: number;
}

export type PhaseTimes = Partial<Record<PhaseName, PhaseTime>>;

/** One row per phase that ran, in pipeline order, with its rate (items per second). */
export interface PhaseRow {
  phase: PhaseName;
  ms: number;
  n: number;
  perSec: number | null;
}

export class PhaseClock {
  constructor(readonly times: PhaseTimes = {}) {}

  add(phase: PhaseName, ms: number, n = 0): void {
    const t = (this.times[phase] ??= { ms: 0, n: 0 });
    t.ms += ms;
    t.n += n;
  }

  /** Runs fn and books its wall time (and `n` items) to `phase`. */
  time<T>(phase: PhaseName, n: number, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, performance.now() - t0, n);
    }
  }

  async timeAsync<T>(phase: PhaseName, n: number, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, performance.now() - t0, n);
    }
  }

  /** A copy for a checkpoint, rounded to 0.1 ms so it packs small. */
  snapshot(): PhaseTimes {
    const out: PhaseTimes = {};
    for (const p of PHASES) {
      const t = this.times[p];
      if (t) out[p] = { ms: Math.round(t.ms * 10) / 10, n: t.n };
    }
    return out;
  }
}

/** Phase times as read back from a checkpoint (any shape: a checkpoint from an older build has none). */
export function phaseRows(raw: unknown): PhaseRow[] {
  if (!raw || typeof raw !== 'object') return [];
  const rows: PhaseRow[] = [];
  for (const phase of PHASES) {
    const t = (raw as Record<string, unknown>)[phase] as Partial<PhaseTime> | undefined;
    if (!t || typeof t.ms !== 'number' || typeof t.n !== 'number') continue;
    rows.push({ phase, ms: Math.round(t.ms), n: t.n, perSec: t.ms > 0 ? Math.round((t.n / t.ms) * 1000) : null });
  }
  return rows;
}
