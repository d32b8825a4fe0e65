// `sd sync status` per peer: the dialer's state and last error, the link's kind and age, and per
// shared library how far each side is behind.
import type { Core } from '../core.js';
import type { Dialer, Linked } from './peers.js';

export interface PeerStatus {
  device: string;
  address: string | null;
  state: string;
  link: string | null;
  since: number | null;
  lastError: string | null;
  libraries: {
    library: string;
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

export function peerStatus(
  core: Core,
  port: number | null,
  refusals: Record<string, number>,
  dialers: Iterable<Dialer>,
  links: Map<string, Linked>,
): { port: number | null; refusals: Record<string, number>; peers: PeerStatus[] } {
  const peers = new Map<string, PeerStatus>();
  for (const d of dialers) {
    const dev = d.addr.dev ?? `${d.addr.host}:${d.addr.port}`;
    peers.set(dev, {
      device: dev,
      address: `${d.addr.host}:${d.addr.port}`,
      state: d.state === 'linked' ? 'live' : d.state === 'connecting' ? 'handshake' : d.state,
      link: null,
      since: null,
      lastError: d.lastError,
      libraries: [],
    });
  }
  for (const [dev, l] of links) {
    const libs = [...l.sessions].map(([library, s]) => {
      const feeds = s.lag();
      const behind = feeds.reduce((n, f) => n + Math.max(0, f.theirs - f.ours), 0);
      const ahead = feeds.reduce((n, f) => n + Math.max(0, f.ours - f.theirs), 0);
      // Every Automerge change rides a signed event: equal feeds mean both sides hold the same
      // changes. Documents not loaded yet (lazy) are projected from the log all the same.
      const lib = core.libraries.list().find((y) => y.id === library);
      const shared = !lib?.repo ? 'not loaded' : behind === 0 && ahead === 0 ? 'in sync' : 'catching up';
      return {
        library,
        received: s.stats.received,
        sent: s.stats.sent,
        rejected: s.stats.rejected,
        lastError: s.stats.lastError,
        behind,
        ahead,
        shared,
        feeds,
      };
    });
    const prev = peers.get(dev);
    peers.set(dev, {
      device: dev,
      address: prev?.address ?? l.link.remoteAddress,
      state: libs.some((x) => x.behind > 0) ? 'catching up' : 'live',
      link: l.link.kind,
      since: l.link.openedAt,
      lastError: prev?.lastError ?? null,
      libraries: libs,
    });
  }
  return { port, refusals, peers: [...peers.values()] };
}
