// Refused connections, pairing guesses and misbehaving links: counted for `sd sync status`, and
// logged in aggregate. The first refusal of a quiet period is logged at once, in full; the rest
// of that window become one summary line (counts per code, the busiest addresses), so a stranger
// guessing at an open invite grows daemon.log by two lines a minute, not one line per attempt.

export interface RefusalLogger {
  warn(o: object, msg?: string): void;
}

const MAX_ADDRESSES = 1000;

interface Window {
  byCode: Map<string, number>;
  byAddress: Map<string, number>;
  more: number;
  timer: NodeJS.Timeout;
}

export class RefusalLog {
  /** Every refusal since start, by code (what `sd sync status` shows). */
  readonly counts: Record<string, number> = {};
  private window: Window | undefined;

  constructor(
    private readonly logger: () => RefusalLogger | undefined,
    private readonly windowMs = 60_000,
  ) {}

  note(code: string, address?: string, detail: Record<string, unknown> = {}): void {
    this.counts[code] = (this.counts[code] ?? 0) + 1;
    const w = this.window;
    if (!w) {
      this.logger()?.warn({ code, remote: address, ...detail }, 'refused a peer');
      const timer = setTimeout(() => this.flush(), this.windowMs);
      timer.unref();
      this.window = { byCode: new Map(), byAddress: new Map(), more: 0, timer };
      return;
    }
    w.more++;
    w.byCode.set(code, (w.byCode.get(code) ?? 0) + 1);
    const a = address ?? 'unknown';
    if (w.byAddress.has(a) || w.byAddress.size < MAX_ADDRESSES) w.byAddress.set(a, (w.byAddress.get(a) ?? 0) + 1);
  }

  /** Writes the summary of the current window, if anything happened after its first line. */
  flush(): void {
    const w = this.window;
    if (!w) return;
    clearTimeout(w.timer);
    this.window = undefined;
    if (w.more === 0) return;
    const busiest = [...w.byAddress].sort((x, y) => y[1] - x[1]).slice(0, 5);
    this.logger()?.warn(
      {
        refused: Object.fromEntries(w.byCode),
        addresses: w.byAddress.size,
        busiest: Object.fromEntries(busiest),
        seconds: Math.round(this.windowMs / 1000),
      },
      `refused ${w.more} more peer attempts`,
    );
  }
}
