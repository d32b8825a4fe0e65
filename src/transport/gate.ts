// Strangers are bounded: a connection holds a ticket from its first byte until it has proven a
// roster key (or finished pairing). Tickets are capped globally and per address, so a thousand
// stalled sockets cost a few slots and the rest are closed at once, not held to their deadline.

export interface StrangerLimits {
  /** Unauthenticated connections held at once, from anywhere. */
  global: number;
  /** Unauthenticated connections held at once from one IP address. */
  perAddress: number;
}

export const DEFAULT_STRANGER_LIMITS: StrangerLimits = { global: 64, perAddress: 8 };

export interface Ticket {
  readonly address: string;
  /** The connection is no longer a stranger (or is gone); idempotent. */
  release(): void;
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are one address. */
export function addressOf(remote: string | undefined): string {
  const a = remote ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export class StrangerGate {
  private held = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(readonly limits: StrangerLimits = DEFAULT_STRANGER_LIMITS) {}

  /** A ticket, or undefined when the connection must be closed now. */
  admit(address: string): Ticket | undefined {
    const n = this.byAddress.get(address) ?? 0;
    if (this.held >= this.limits.global || n >= this.limits.perAddress) return undefined;
    this.held++;
    this.byAddress.set(address, n + 1);
    let released = false;
    return {
      address,
      release: () => {
        if (released) return;
        released = true;
        this.held--;
        const left = (this.byAddress.get(address) ?? 1) - 1;
        if (left > 0) this.byAddress.set(address, left);
        else this.byAddress.delete(address);
      },
    };
  }

  get strangers(): number {
    return this.held;
  }
}
