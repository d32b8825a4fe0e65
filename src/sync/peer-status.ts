// `sd sync status` and `sd peer list`, read from the actors' snapshots: each peer actor's state,
// addresses and link; each session's state and counters.
import type { AnyActorRef } from 'xstate';
import type { NetHost } from './host.js';
import type { PeerContext } from '../actors/network/peer.js';
import type { SessionContext } from '../actors/sync/session.js';
import type { AddressBook } from './address-book.js';
import { pathOf, type PeerLink } from '../transport/types.js';

/** The link a device's actor uses now (the WebRTC one when it is up), if any. */
export function linkOf(core: Pick<NetHost, 'services'>, dev: string): PeerLink | null {
  const snap = core.services?.network.getSnapshot().children[`peer:${dev}`]?.getSnapshot();
  const c = snap?.context as Pick<PeerContext, 'link' | 'rtc'> | undefined;
  return c?.rtc?.isOpen ? c.rtc : c?.link?.isOpen ? c.link : null;
}

/** Why the last link or dial to a device failed (E_REVOKED when it refuses us), if it did. */
export function lastErrorOf(
  core: Pick<NetHost, 'services'>,
  dev: string,
): { code: string; message: string } | undefined {
  const snap = core.services?.network.getSnapshot().children[`peer:${dev}`]?.getSnapshot();
  return (snap?.context as { lastError: { code: string; message: string } | null } | undefined)?.lastError ?? undefined;
}

/** Whether a device is linked now, by what, and since when. */
export function onlineOf(
  core: Pick<NetHost, 'services'>,
  dev: string,
): { online: boolean; link: string | null; path: string | null; rttMs: number | null; since: number | null } {
  const link = linkOf(core, dev);
  if (!link) return { online: false, link: null, path: null, rttMs: null, since: null };
  return {
    online: true,
    link: link.kind,
    path: pathLabel(link),
    rttMs: link.rttMs,
    since: link.openedAt,
  };
}

/** `lan-ws`, `webrtc-direct (host)`, `webrtc-direct (srflx)` or `webrtc-relay`. */
export function pathLabel(link: PeerLink): string {
  const p = pathOf(link);
  return p.path === 'webrtc-direct' && p.candidate ? `${p.path} (${p.candidate})` : p.path;
}

export interface PeerStatus {
  device: string;
  address: string | null;
  /** The peer actor's state: idle, dialing, handshaking, linked, backoff, paused, revoked... */
  state: string;
  link: string | null;
  /** How the peer is reached: lan-ws, webrtc-direct (host|srflx), webrtc-relay. */
  path: string | null;
  /** Round-trip time of the link's last heartbeat echo. */
  rttMs: number | null;
  since: number | null;
  lastError: string | null;
  addresses: string[];
  /** Members that link to it (they forward signalling). */
  via: string[];
  libraries: {
    library: string;
    /** The session actor's state: announcing, catchingUp, live. */
    state: string;
    received: number;
    sent: number;
    rejected: Record<string, number>;
    lastError: string | null;
    behind: number;
    ahead: number;
    shared: string;
    feeds: { dev: string; ours: number; theirs: number }[];
  }[];
}

const stateName = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Object.entries(value as Record<string, unknown>)
        .map(
          ([k, v]) => `${k}${v && typeof v === 'object' ? `.${stateName(v)}` : typeof v === 'string' ? `.${v}` : ''}`,
        )
        .join(',');

export function networkStatus(
  core: Pick<NetHost, 'services' | 'libraries'>,
  port: number | null,
  refusals: Record<string, number>,
  book: AddressBook,
  relaysOf: (dev: string) => string[] = () => [],
): { port: number | null; refusals: Record<string, number>; peers: PeerStatus[] } {
  const peers = new Map<string, PeerStatus>();
  const net = core.services?.network.getSnapshot().children as Record<string, AnyActorRef> | undefined;
  for (const ref of Object.values(net ?? {})) {
    const snap = ref.getSnapshot();
    const c = snap.context as PeerContext | undefined;
    if (!c?.dev) continue;
    const link = c.rtc?.isOpen ? c.rtc : c.link?.isOpen ? c.link : null;
    const at = c.addresses[c.next % Math.max(1, c.addresses.length)];
    peers.set(c.dev, {
      device: c.dev,
      address: link?.remoteAddress ?? (at ? `${at.host}:${at.port}` : null),
      state: stateName(snap.value),
      link: link?.kind ?? null,
      path: link ? pathLabel(link) : null,
      rttMs: link?.rttMs ?? null,
      since: link?.openedAt ?? null,
      lastError: c.lastError ? `${c.lastError.code}: ${c.lastError.message}` : null,
      addresses: c.addresses.map((a) => `${a.host}:${a.port}`),
      via: relaysOf(c.dev),
      libraries: [],
    });
  }
  // Addresses we keep of devices no actor holds yet (not listening, or learnt of a non-member).
  for (const e of book.list())
    if (e.dev && !peers.has(e.dev))
      peers.set(e.dev, {
        device: e.dev,
        address: `${e.host}:${e.port}`,
        state: 'idle',
        link: null,
        path: null,
        rttMs: null,
        since: null,
        lastError: null,
        addresses: [`${e.host}:${e.port}`],
        via: relaysOf(e.dev),
        libraries: [],
      });
  const sync = core.services?.sync.getSnapshot().children as Record<string, AnyActorRef> | undefined;
  for (const ref of Object.values(sync ?? {})) {
    const snap = ref.getSnapshot();
    const s = snap.context as SessionContext | undefined;
    if (!s?.peer) continue;
    const p = peers.get(s.peer);
    if (!p) continue;
    const lib = core.libraries.all().find((l) => l.id === s.lib);
    // Every Automerge change rides a signed event: equal feeds mean both sides hold the same
    // changes. Documents not loaded yet (lazy) are projected from the log all the same.
    const shared = !lib?.repo ? 'not loaded' : s.behind === 0 && s.ahead === 0 ? 'in sync' : 'catching up';
    p.libraries.push({
      library: s.lib,
      state: stateName(snap.value),
      received: s.received,
      sent: s.sent,
      rejected: s.refused,
      lastError: s.lastError,
      behind: s.behind,
      ahead: s.ahead,
      shared,
      feeds: s.feeds,
    });
  }
  return { port, refusals, peers: [...peers.values()] };
}
