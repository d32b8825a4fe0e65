// Members telling each other where they listen (see address-book.ts), for the network (network.ts):
// on every member link, on the `ctl` channel, our own addresses and those of the members we share
// with the peer; what the peer tells us goes into the book, or is held until its device is on a
// roster here.
import { networkInterfaces } from 'node:os';
import type { NetHost } from './host.js';
import type { Library } from '../library/library.js';
import type { PeerLink } from '../transport/types.js';
import { decodeAddrs, encodeAddrs, type AddressBook, type BookEntry } from './address-book.js';

const hostOf = (remote: string): string => remote.replace(/^\[?([^\]]*?)\]?:\d+$/, '$1');

/** What the exchange needs of the network. */
export interface AddressExchangeHost {
  core: NetHost;
  book: AddressBook;
  /** false: nothing is told or learnt (see NetworkOptions.learnAddresses). */
  learnsAddresses(): boolean;
  /** The host we are bound to ('0.0.0.0': every interface). */
  boundHost(): string;
  /** The port we listen on, if we do. */
  port(): number | null;
  memberOf(lib: Library, dev: string): boolean;
  isMember(dev: string): boolean;
  /** Hands an address of a member to its peer actor. */
  tell(dev: string, a: { host: string; port: number }): void;
}

export class AddressExchange {
  constructor(private readonly net: AddressExchangeHost) {}

  /** Addresses members told us for devices not on any roster here yet (bounded: 64 devices x 4). */
  private readonly held = new Map<string, BookEntry[]>();

  private hold(e: BookEntry & { dev: string }): void {
    if (!this.held.has(e.dev) && this.held.size >= 64) this.held.delete(this.held.keys().next().value!);
    const list = this.held.get(e.dev) ?? [];
    this.held.set(e.dev, [...list.filter((x) => x.host !== e.host || x.port !== e.port), e].slice(-4));
  }

  placeHeld(): void {
    for (const [dev, list] of this.held) {
      if (!this.net.isMember(dev)) continue;
      this.held.delete(dev);
      for (const e of list) if (this.net.book.add(e)) this.net.tell(dev, e);
    }
  }

  /** Where we listen, as others can reach it: the bound host, or this machine's LAN addresses. */
  private ownHosts(): string[] {
    if (this.net.boundHost() !== '0.0.0.0') return [this.net.boundHost()];
    const out: string[] = [];
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
    return out.slice(0, 16);
  }

  /**
   * On every member link: tell the peer where we listen and where the members we share with it
   * can be reached; learn the same from it. So two laptops that joined through a home server
   * link to each other directly, and an inviter learns its joiner's address.
   */
  exchange(link: PeerLink): void {
    if (!this.net.learnsAddresses()) return;
    const { core } = this.net;
    const peer = link.peerId;
    const shared = core.libraries.all().filter((l) => this.net.memberOf(l, peer));
    const book = this.net.book
      .list()
      .filter((e): e is BookEntry & { dev: string } => !!e.dev && e.dev !== peer)
      .filter((e) => shared.some((l) => this.net.memberOf(l, e.dev)))
      .slice(-64)
      .map((e) => ({ dev: e.dev, host: e.host, port: e.port }));
    link.on('message', (ch, bytes) => {
      if (ch !== 'ctl') return;
      const m = decodeAddrs(bytes);
      if (!m) return;
      const now = Date.now();
      if (m.port !== null)
        for (const host of new Set([hostOf(link.remoteAddress), ...m.hosts]))
          if (host && !host.startsWith('webrtc')) {
            this.net.book.add({ dev: peer, host, port: m.port, source: 'self', seen: now });
            this.net.tell(peer, { host, port: m.port });
          }
      for (const e of m.book) {
        if (e.dev === core.device.id) continue;
        if (!this.net.isMember(e.dev)) this.hold({ ...e, source: 'member' });
        else if (this.net.book.add({ ...e, source: 'member' })) this.net.tell(e.dev, e);
      }
    });
    try {
      link.send(
        'ctl',
        encodeAddrs({ port: this.net.port(), hosts: this.net.port() === null ? [] : this.ownHosts(), book }),
      );
    } catch {
      // closed meanwhile
    }
  }
}
