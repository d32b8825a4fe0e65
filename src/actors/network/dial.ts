// Dialing a device that has several addresses: one after another, a moment apart, the first to
// connect kept (RFC 8305's "happy eyeballs").
import type { MessageTransport } from '../../transport/types.js';
import type { PeerAddr } from './peer.js';

/** How long a dial has the field to itself before the device's next address is dialed beside it. */
export const DIAL_STAGGER_MS = 300;

/**
 * Dials a device's addresses one after another, each `DIAL_STAGGER_MS` after the one before
 * unless an earlier one has failed already (so a dead address costs a moment, not a timeout, as
 * in RFC 8305's "happy eyeballs"). The first to connect wins; the others are closed as they come.
 * Fails with the first address's error when every one fails.
 */
export function dialFirst(
  addresses: PeerAddr[],
  dial: (a: PeerAddr) => Promise<MessageTransport>,
  staggerMs = DIAL_STAGGER_MS,
): Promise<MessageTransport> {
  return new Promise((resolve, reject) => {
    let won = false;
    let started = 0;
    let failed = 0;
    const errors: unknown[] = [];
    let timer: NodeJS.Timeout | undefined;
    const next = (): void => {
      clearTimeout(timer);
      if (won || started >= addresses.length) return;
      const i = started++;
      dial(addresses[i]!).then(
        (t) => {
          if (won) return t.close({ code: 'E_DUPLICATE_LINK', message: 'another address answered first' });
          won = true;
          clearTimeout(timer);
          resolve(t);
        },
        (e: unknown) => {
          errors[i] = e;
          if (++failed < addresses.length) return next();
          clearTimeout(timer);
          if (!won) reject(errors[0]);
        },
      );
      timer = setTimeout(next, staggerMs);
    };
    if (addresses.length === 0) reject(new Error('no address to dial'));
    else next();
  });
}
