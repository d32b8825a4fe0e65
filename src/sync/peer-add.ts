// `sd peer add`, both forms, as the network runs them: an address is dialed now and the device
// that answers is handed to its peer actor; a device id is called at an address we know or
// through the members that link to it, and waited for.
import type { AnyActorRef } from 'xstate';
import { SdError } from '../errors.js';
import { fingerprint } from '../events/keys.js';
import type { Verdict } from '../transport/handshake.js';
import { openPeerLink } from '../transport/peer-link.js';
import { connectWs } from '../transport/ws.js';
import type { LinkMode, PeerLink } from '../transport/types.js';
import type { AddressBook } from './address-book.js';
import type { NetHost } from './host.js';
import { linkOf, type PeerStatus } from './peer-status.js';

export interface PeerAddress {
  host: string;
  port: number;
  dev?: string;
}

/** What `sd peer add` needs of the network. */
export interface PeerAddHost {
  readonly core: NetHost;
  readonly book: AddressBook;
  /** The network actor, once the services run. */
  actor(): AnyActorRef | undefined;
  /** The port we listen on, if we do. */
  port(): number | null;
  /** Who may link (members; strangers only to pair). */
  verdict(address: string): (pub: Uint8Array, dev: string, mode: LinkMode) => Verdict;
  isMember(dev: string): boolean;
  online(dev: string): { online: boolean; path: string | null };
  /** Members that link to the device. */
  relaysOf(dev: string): string[];
  status(): { peers: PeerStatus[] };
}

/**
 * `sd peer add HOST:PORT`: dials now and says whom it reached. Only a member is remembered (and
 * dialed after every restart); an address where nothing answers, or a device that is not a
 * member, is refused with what happened.
 */
export async function addPeer(net: PeerAddHost, addr: PeerAddress): Promise<{ device: string; fingerprint: string }> {
  if (!net.actor() || net.port() === null)
    throw new SdError('E_P2P_OFF', 'the daemon is not listening for peers; restart it with `sd start --p2p-port 0`');
  const where = `${addr.host}:${addr.port}`;
  let link: PeerLink;
  try {
    const t = await connectWs(addr.host, addr.port);
    link = await openPeerLink(t, {
      role: 'initiator',
      privateKey: net.core.device.privateKey,
      expectPeerId: addr.dev,
      isAllowed: net.verdict(where),
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'E_PEER_NOT_ALLOWED' || code === 'E_REFUSED')
      throw new SdError('E_NOT_A_MEMBER', `${where} answered, but that device is not a member of a library here`);
    throw new SdError('E_PEER_UNREACHABLE', `nothing reachable at ${where}: ${(e as Error).message}`, {
      address: where,
    });
  }
  net.book.add({ host: addr.host, port: addr.port, dev: link.peerId, source: 'manual', seen: Date.now() });
  net.actor()!.send({ type: 'INBOUND', link, outbound: true, address: { host: addr.host, port: addr.port } });
  return { device: link.peerId, fingerprint: fingerprint(link.peerPublicKey) };
}

/**
 * `sd peer add DEVICE_ID`: links to a member by its id, at an address we know or through the
 * members that link to it; resolves with the link's path, or refuses with what is missing.
 */
export async function callPeer(
  net: PeerAddHost,
  dev: string,
  waitMs: number,
): Promise<{ device: string; fingerprint: string; path: string | null }> {
  if (!net.actor() || net.port() === null)
    throw new SdError('E_P2P_OFF', 'the daemon is not listening for peers; restart it with `sd start --p2p-port 0`');
  if (!net.isMember(dev))
    throw new SdError('E_NOT_A_MEMBER', `device ${dev.slice(0, 8)} is not a member of a library here`);
  // A member that links to it may not have said so yet (a device that joined a moment ago).
  const reachable = (): boolean =>
    net.online(dev).online || net.relaysOf(dev).length > 0 || net.book.of(dev).length > 0;
  for (let i = 0; i < 50 && !reachable(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!reachable())
    throw new SdError(
      'E_PEER_UNREACHABLE',
      `no address is known for device ${dev.slice(0, 8)} and no linked member reaches it; link to a member it links to (\`sd peer add HOST:PORT\`) first`,
    );
  net.actor()!.send({ type: 'CALL', dev });
  const end = Date.now() + waitMs;
  while (!net.online(dev).online && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const now = net.online(dev);
  if (!now.online) {
    const err = (net.status().peers.find((p) => p.device === dev)?.lastError ?? 'no answer').slice(0, 200);
    throw new SdError('E_PEER_UNREACHABLE', `device ${dev.slice(0, 8)} was not reached in ${waitMs / 1000} s (${err})`);
  }
  const link = linkOf(net.core, dev)!;
  return { device: dev, fingerprint: fingerprint(link.peerPublicKey), path: now.path };
}
