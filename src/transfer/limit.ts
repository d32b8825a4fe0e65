// The per-device bandwidth limit of file transfers (`transfer.limit`): a token bucket per
// direction, shared by every transfer of this device. 0 means no limit.
import { setTimeout as sleep } from 'node:timers/promises';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "20M" -> 20 MiB/s; "0" or "off" -> 0 (no limit); undefined for anything else. */
export function parseRate(raw: string): number | undefined {
  const v = raw.trim();
  if (v === 'off' || v === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B)?(?:\/s)?$/i.exec(v);
  if (!m) return undefined;
  const n = Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  return n >= 1024 ? n : undefined;
}

export class RateLimit {
  private tokens = 0;
  private at = Date.now();
  /** Waiters in arrival order: a big chunk does not starve behind a stream of small ones. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private rate = 0) {}

  get bytesPerSecond(): number {
    return this.rate;
  }

  set(rate: number): void {
    this.rate = rate;
    this.tokens = 0;
    this.at = Date.now();
  }

  /** Resolves when `bytes` may go (at once without a limit); an aborted signal rejects. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.rate <= 0) return Promise.resolve();
    const turn = this.queue.then(async () => {
      // A burst of a quarter second at most, so a pause is not followed by a flood.
      const refill = (): void => {
        const now = Date.now();
        this.tokens = Math.min(this.rate / 4 + bytes, this.tokens + ((now - this.at) * this.rate) / 1000);
        this.at = now;
      };
      refill();
      while (this.tokens < bytes && this.rate > 0) {
        await sleep(Math.max(5, Math.ceil(((bytes - this.tokens) * 1000) / this.rate)), undefined, { signal });
        refill();
      }
      this.tokens -= bytes;
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}
