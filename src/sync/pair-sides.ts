// Both sides of pairing as the network runs them (the protocol itself is pair-link.ts): the
// inviter makes a code naming where it listens and holds a stranger's link to pairing until it
// pairs; the joiner opens the library it was let into. Either way the link becomes a member link.
import { SdError } from '../errors.js';
import { deviceIdOf, fingerprint } from '../events/keys.js';
import type { Library } from '../library/library.js';
import type { Ticket } from '../transport/gate.js';
import type { PeerLink } from '../transport/types.js';
import type { AddressBook } from './address-book.js';
import type { NetHost } from './host.js';
import { joinWithCode, servePairing, type PairingHost } from './pair-link.js';
import { encodeCode, type InviteBook } from './pairing.js';
import { onRoster } from './roster-wait.js';

/** Inviter side, `sd pair invite`: a one-time code naming where we listen (`host`: the bound host). */
export function inviteCode(
  at: { invites: InviteBook; port: number | null; host: string; inviter: string },
  lib: Library,
  ttlMs: number,
  advertiseHost?: string,
): { code: string; expires: number } {
  const port = at.port;
  if (port === null)
    throw new SdError(
      'E_P2P_OFF',
      'the daemon is not listening for peers; start it with `sd start --p2p-port 0` (or a port)',
    );
  const inv = at.invites.create(lib.id, ttlMs);
  const host = advertiseHost ?? (at.host === '0.0.0.0' ? '127.0.0.1' : at.host);
  return { code: encodeCode({ host, port, inviter: at.inviter, secret: inv.secret }), expires: inv.expires };
}

/** Inviter side: a stranger's link, served the pairing protocol; `inbound` takes it once it has paired. */
export function serveStranger(
  host: Omit<PairingHost, 'onPaired'>,
  link: PeerLink,
  ticket: Ticket,
  inbound: (link: PeerLink) => void,
): void {
  // Still a stranger until it has paired: it holds its ticket, and may only speak 'pair'.
  link.restrict('pair');
  link.once('close', () => ticket.release());
  servePairing(
    {
      ...host,
      onPaired: (l) => {
        ticket.release();
        l.restrict(null);
        inbound(l);
      },
    },
    link,
    ticket.address,
  );
}

/**
 * Joiner side, `sd pair join CODE`: pairs, opens the library and keeps the inviter's address;
 * `inbound` takes the link to the inviter. Resolves with what was joined, and `member`.
 */
export async function joinLibrary(
  core: NetHost,
  book: AddressBook,
  code: string,
  inbound: (link: PeerLink, address: { host: string; port: number }) => void,
) {
  const { link, welcome, invite } = await joinWithCode(core, code);
  // The inviter starts its feed at once; its first frames may arrive while we open the library
  // (the feed protocol asks again when it hears our heads).
  const joined = await core.libraries
    .join(welcome.lib, { dev: link.peerId, pubkey: link.peerPublicKey })
    .catch((e: Error) => {
      link.close('E_JOIN_FAILED', e.message);
      throw e;
    });
  const anchor = joined.db.prepare('INSERT OR IGNORE INTO trust_anchors (dev, pubkey) VALUES (?, ?)');
  for (const [dev, pub] of welcome.roster) if (deviceIdOf(pub) === dev) anchor.run(dev, pub);
  book.add({ host: invite.host, port: invite.port, dev: link.peerId, source: 'invite', seen: Date.now() });
  // The roster arrives in the inviter's feed; until then its pairing key verifies that feed.
  inbound(link, { host: invite.host, port: invite.port });
  return {
    // Our own events count once the roster that names us has arrived (the end of the inviter's feed).
    member: () => onRoster(joined, core.device.id, 15_000, 30 * 60_000),
    library: welcome.lib,
    libraryName: welcome.libName,
    inviter: link.peerId,
    inviterName: welcome.inviterName,
    fingerprint: fingerprint(link.peerPublicKey),
  };
}
