// What the daemon and the commands ask of the network: start and stop listening, invite and join,
// add and remove peers, and the status. The behaviour lives in the actors (NetworkService with a
// peer actor per device, SyncService with a session per peer and library); this class supplies
// their effects (the address book, pairing, the refusal log) and reads their snapshots.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { AnyActorRef } from 'xstate';
import type { NetHost } from './host.js';
import { SdError } from '../errors.js';
import { deviceIdOf, fingerprint } from '../events/keys.js';
import type { Library } from '../library/library.js';
import type { NetworkDeps } from '../actors/network/effects.js';
import type { Verdict } from '../transport/handshake.js';
import { openPeerLink } from '../transport/peer-link.js';
import type { StrangerLimits } from '../transport/gate.js';
import { connectWs, type WsListener } from '../transport/ws.js';
import type { LinkMode, PeerLink } from '../transport/types.js';
import { AddressBook, decodeAddrs, encodeAddrs, type BookEntry } from './address-book.js';
import { InviteBook, encodeCode } from './pairing.js';
import { joinWithCode, servePairing } from './pair-link.js';
import { RefusalLog } from './refusals.js';
import { networkStatus, linkOf, pathLabel, type PeerStatus } from './peer-status.js';
import { codeOf } from '../error-codes.js';
import { IceConfig, stunOnly, toRtcServers, type IceSettings } from './ice.js';
import { Rendezvous } from './rendezvous.js';
import { onRoster } from './roster-wait.js';

/** `webrtc`: off (WebSocket only), auto (WebRTC to devices reached through members), on (LAN links too). */
export type WebRtcMode = 'off' | 'auto' | 'on';

export interface NetworkOptions {
  strangerLimits?: StrangerLimits;
  /**
   * Learn where members listen from what they and other members say (default true). An embedder
   * that reaches its peers only through a tunnel or a proxy turns it off (so does the capture test).
   */
  learnAddresses?: boolean;
}

export interface PeerAddress {
  host: string;
  port: number;
  dev?: string;
}

const hostOf = (remote: string): string => remote.replace(/^\[?([^\]]*?)\]?:\d+$/, '$1');

export class Network {
  readonly invites = new InviteBook();
  readonly book: AddressBook;
  private readonly log = new RefusalLog(() => this.core.log);

  /** Refusals counted and logged in aggregate (also by the sync sessions). */
  get refusalLog(): RefusalLog {
    return this.log;
  }
  private listener: WsListener | undefined;
  private readonly linkHooks: ((link: PeerLink) => void)[] = [];
  private host = '127.0.0.1';
  private webrtc: WebRtcMode = 'auto';
  private paused = false;
  readonly ice: IceConfig;
  readonly rendezvous: Rendezvous;

  constructor(
    private readonly core: NetHost,
    private readonly opts: NetworkOptions = {},
  ) {
    this.book = new AddressBook(join(core.dataDir, 'peers.json'));
    this.ice = new IceConfig({ servers: [], share: false }, core.device.id);
    this.rendezvous = new Rendezvous({
      self: { id: core.device.id, privateKey: core.device.privateKey },
      isMember: (dev) => this.isMember(dev),
      shareLibrary: (a, b) => this.core.libraries.all().some((l) => this.memberOf(l, a) && this.memberOf(l, b)),
      publicKeyOf: (dev) => {
        for (const l of this.core.libraries.all()) {
          const k = l.keyOf(dev);
          if (k && k.revokedSeq === null) return k.pubkey;
        }
        return undefined;
      },
      linkTo: (dev) => linkOf(this.core, dev) ?? undefined,
      tell: (e) => this.actor?.send(e),
      ice: this.ice,
      log: this.log,
    });
    // An address a member told us may name a device whose device.added has not reached us yet
    // (it arrives on the feed right after the link's address exchange): placed once it has.
    core.libraries.onOpen((lib) =>
      lib.onEvent((ev) => {
        if (ev.type === 'device.added' || ev.type === 'library.created') this.placeHeld();
        if (ev.type === 'device.added' || ev.type === 'library.created' || ev.type === 'device.revoked')
          this.rendezvous.rosterChanged();
      }),
    );
  }

  /** Addresses members told us for devices not on any roster here yet (bounded: 64 devices x 4). */
  private readonly held = new Map<string, BookEntry[]>();

  private hold(e: BookEntry & { dev: string }): void {
    if (!this.held.has(e.dev) && this.held.size >= 64) this.held.delete(this.held.keys().next().value!);
    const list = this.held.get(e.dev) ?? [];
    this.held.set(e.dev, [...list.filter((x) => x.host !== e.host || x.port !== e.port), e].slice(-4));
  }

  private placeHeld(): void {
    for (const [dev, list] of this.held) {
      if (!this.isMember(dev)) continue;
      this.held.delete(dev);
      for (const e of list) if (this.book.add(e)) this.tell(dev, e);
    }
  }

  /** What the actors need of the world (see actors/network/effects.ts). */
  deps(): NetworkDeps {
    return {
      self: { id: this.core.device.id, privateKey: this.core.device.privateKey },
      log: this.log,
      strangerLimits: this.opts.strangerLimits,
      isMember: (dev) => this.isMember(dev),
      verdict: (address) => this.verdict(address),
      bindAddress: () => (this.host === '0.0.0.0' ? undefined : this.host),
      webrtc: () => this.webrtc === 'on',
      paused: () => this.paused,
      iceServers: (purpose) => toRtcServers(purpose === 'probe' ? stunOnly(this.ice.servers()) : this.ice.servers()),
      signal: (dev, via, body) => this.rendezvous.signal(dev, via, body),
      onListener: (l) => (this.listener = l),
      pair: (link, ticket, inbound) => {
        // Still a stranger until it has paired: it holds its ticket, and may only speak 'pair'.
        link.restrict('pair');
        link.once('close', () => ticket.release());
        servePairing(
          {
            core: this.core,
            invites: this.invites,
            refusals: this.log,
            isMember: (dev) => this.isMember(dev),
            onPaired: (l) => {
              ticket.release();
              l.restrict(null);
              inbound(l);
            },
          },
          link,
          ticket.address,
        );
      },
      onLink: (link) => {
        this.exchangeAddresses(link);
        this.rendezvous.onLink(link);
        for (const h of this.linkHooks) h(link);
      },
      onRtcLink: (link) => {
        for (const h of this.linkHooks) h(link);
      },
    };
  }

  private get actor(): AnyActorRef | undefined {
    return this.core.services?.network;
  }

  get port(): number | null {
    return (this.actor?.getSnapshot().context.port as number | null | undefined) ?? null;
  }

  /** Connections held that have not proven a roster key yet. */
  get strangers(): number {
    return this.listener?.gate.strangers ?? 0;
  }

  get refusals(): Record<string, number> {
    return this.log.counts;
  }

  async start(
    host: string,
    port: number,
    opts: { webrtc?: boolean | WebRtcMode; ice?: IceSettings } = {},
  ): Promise<void> {
    const actor = this.actor;
    if (!actor) throw new SdError('E_SERVICES_OFF', 'this core runs without its services');
    this.host = host;
    // Moving LAN links onto WebRTC is opt-in (on); calling through members is the default (auto).
    const env = process.env.SD_WEBRTC;
    const w = opts.webrtc ?? (env === 'on' || env === 'off' || env === 'auto' ? env : 'auto');
    this.webrtc = w === true ? 'on' : w === false ? 'off' : w;
    if (opts.ice) this.ice.update(opts.ice);
    await new Promise<void>((resolve, reject) => {
      const sub = actor.subscribe((snap) => {
        if (snap.matches({ listening: 'open' })) {
          sub.unsubscribe();
          resolve();
        } else if (snap.matches('offline') && snap.context.lastError) {
          sub.unsubscribe();
          const e = snap.context.lastError as { code: string; message: string };
          reject(new SdError(codeOf(e.code, 'E_P2P_LISTEN'), e.message));
        }
      });
      actor.send({ type: 'START', host, port, webrtc: this.webrtc === 'on', rendezvous: this.webrtc !== 'off' });
    });
    for (const e of this.book.list()) if (e.dev) this.tell(e.dev, e);
    this.rendezvous.start();
  }

  async stop(): Promise<void> {
    this.rendezvous.stop();
    this.actor?.send({ type: 'STOP' });
    this.log.flush();
    await this.listener?.close();
  }

  /** On the roster (or a pairing trust anchor) of a library we share, and not revoked. */
  memberOf(lib: Library, dev: string): boolean {
    const k = lib.keyOf(dev);
    return !!k && k.revokedSeq === null;
  }

  isMember(dev: string): boolean {
    return dev !== this.core.device.id && this.core.libraries.all().some((lib) => this.memberOf(lib, dev));
  }

  /** Who may link: members; strangers only to pair, while an invite is open and they are not locked out. */
  private verdict(address: string): (pub: Uint8Array, dev: string, mode: LinkMode) => Verdict {
    return (_pub, dev, mode) => {
      if (this.isMember(dev)) return true;
      if (this.core.libraries.all().some((lib) => lib.keyOf(dev)?.revokedSeq != null))
        return { code: 'E_REVOKED', message: `device ${dev.slice(0, 8)} was revoked` };
      if (mode === 'pair' && dev !== this.core.device.id) return this.invites.admit(address);
      return false;
    };
  }

  private tell(dev: string, a: { host: string; port: number }): void {
    this.actor?.send({ type: 'ADDRESS', dev, address: { host: a.host, port: a.port } });
  }

  // ---- addresses ----

  /** Where we listen, as others can reach it: the bound host, or this machine's LAN addresses. */
  private ownHosts(): string[] {
    if (this.host !== '0.0.0.0') return [this.host];
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
  private exchangeAddresses(link: PeerLink): void {
    if (this.opts.learnAddresses === false) return;
    const peer = link.peerId;
    const shared = this.core.libraries.all().filter((l) => this.memberOf(l, peer));
    const book = this.book
      .list()
      .filter((e): e is BookEntry & { dev: string } => !!e.dev && e.dev !== peer)
      .filter((e) => shared.some((l) => this.memberOf(l, e.dev)))
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
            this.book.add({ dev: peer, host, port: m.port, source: 'self', seen: now });
            this.tell(peer, { host, port: m.port });
          }
      for (const e of m.book) {
        if (e.dev === this.core.device.id) continue;
        if (!this.isMember(e.dev)) this.hold({ ...e, source: 'member' });
        else if (this.book.add({ ...e, source: 'member' })) this.tell(e.dev, e);
      }
    });
    try {
      link.send('ctl', encodeAddrs({ port: this.port, hosts: this.port === null ? [] : this.ownHosts(), book }));
    } catch {
      // closed meanwhile
    }
  }

  // ---- peers ----

  /**
   * `sd peer add HOST:PORT`: dials now and says whom it reached. Only a member is remembered (and
   * dialed after every restart); an address where nothing answers, or a device that is not a
   * member, is refused with what happened.
   */
  async addPeer(addr: PeerAddress): Promise<{ device: string; fingerprint: string }> {
    if (!this.actor || this.port === null)
      throw new SdError('E_P2P_OFF', 'the daemon is not listening for peers; restart it with `sd start --p2p-port 0`');
    const where = `${addr.host}:${addr.port}`;
    let link: PeerLink;
    try {
      const t = await connectWs(addr.host, addr.port);
      link = await openPeerLink(t, {
        role: 'initiator',
        privateKey: this.core.device.privateKey,
        expectPeerId: addr.dev,
        isAllowed: this.verdict(where),
      });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'E_PEER_NOT_ALLOWED' || code === 'E_REFUSED')
        throw new SdError('E_NOT_A_MEMBER', `${where} answered, but that device is not a member of a library here`);
      throw new SdError('E_PEER_UNREACHABLE', `nothing reachable at ${where}: ${(e as Error).message}`, {
        address: where,
      });
    }
    this.book.add({ host: addr.host, port: addr.port, dev: link.peerId, source: 'manual', seen: Date.now() });
    this.actor.send({ type: 'INBOUND', link, outbound: true, address: { host: addr.host, port: addr.port } });
    return { device: link.peerId, fingerprint: fingerprint(link.peerPublicKey) };
  }

  /** `sd peer remove`: forgets a device's addresses (or one address) and drops its link. */
  removePeer(match: { dev?: string; host?: string; port?: number }): BookEntry[] {
    const gone = this.book.remove(match);
    const devs = new Set([match.dev, ...gone.map((e) => e.dev)].filter((d): d is string => !!d));
    for (const dev of devs)
      this.actor?.send(
        match.host
          ? { type: 'FORGET', dev, address: { host: match.host, port: match.port! } }
          : { type: 'FORGET', dev },
      );
    return gone;
  }

  /** Cuts every link and stops dialing (a partition, in tests); heal() reconnects. */
  partition(): void {
    this.paused = true;
    this.actor?.send({ type: 'PAUSE' });
  }

  heal(): void {
    this.paused = false;
    this.actor?.send({ type: 'RESUME' });
  }

  // ---- pairing ----

  invite(lib: Library, ttlMs: number, advertiseHost?: string): { code: string; expires: number } {
    const port = this.port;
    if (port === null)
      throw new SdError(
        'E_P2P_OFF',
        'the daemon is not listening for peers; start it with `sd start --p2p-port 0` (or a port)',
      );
    const inv = this.invites.create(lib.id, ttlMs);
    const host = advertiseHost ?? (this.host === '0.0.0.0' ? '127.0.0.1' : this.host);
    return { code: encodeCode({ host, port, inviter: this.core.device.id, secret: inv.secret }), expires: inv.expires };
  }

  async join(code: string): Promise<{
    member: () => Promise<boolean>;
    library: string;
    libraryName: string;
    inviter: string;
    inviterName: string;
    fingerprint: string;
  }> {
    const { link, welcome, invite } = await joinWithCode(this.core, code);
    // The inviter starts its feed at once; its first frames may arrive while we open the library
    // (the feed protocol asks again when it hears our heads).
    const joined = await this.core.libraries
      .join(welcome.lib, { dev: link.peerId, pubkey: link.peerPublicKey })
      .catch((e: Error) => {
        link.close('E_JOIN_FAILED', e.message);
        throw e;
      });
    const anchor = joined.db.prepare('INSERT OR IGNORE INTO trust_anchors (dev, pubkey) VALUES (?, ?)');
    for (const [dev, pub] of welcome.roster) if (deviceIdOf(pub) === dev) anchor.run(dev, pub);
    this.book.add({ host: invite.host, port: invite.port, dev: link.peerId, source: 'invite', seen: Date.now() });
    // The roster arrives in the inviter's feed; until then its pairing key verifies that feed.
    this.actor?.send({ type: 'INBOUND', link, outbound: true, address: { host: invite.host, port: invite.port } });
    return {
      // Our own events count once the roster that names us has arrived (the end of the inviter's feed).
      member: () => onRoster(joined, this.core.device.id, 15_000, 30 * 60_000),
      library: welcome.lib,
      libraryName: welcome.libName,
      inviter: link.peerId,
      inviterName: welcome.inviterName,
      fingerprint: fingerprint(link.peerPublicKey),
    };
  }

  // ---- status ----

  status(): { port: number | null; refusals: Record<string, number>; peers: PeerStatus[] } {
    return networkStatus(this.core, this.port, this.refusals, this.book, (dev) => this.rendezvous.relaysOf(dev));
  }

  /** Called with every member link once it is up (WebSocket, and WebRTC when it comes): file transfers listen there. */
  onMemberLink(fn: (link: PeerLink) => void): void {
    this.linkHooks.push(fn);
  }

  /** The device's current link (WebRTC when up, else WebSocket), if any: what file transfers ride on. */
  linkTo(dev: string): PeerLink | undefined {
    return linkOf(this.core, dev) ?? undefined;
  }

  /** Why the last link or dial to a device failed (E_REVOKED when it refuses us), if it did. */
  lastErrorOf(dev: string): { code: string; message: string } | undefined {
    const snap = this.core.services?.network.getSnapshot().children[`peer:${dev}`]?.getSnapshot();
    return (
      (snap?.context as { lastError: { code: string; message: string } | null } | undefined)?.lastError ?? undefined
    );
  }

  online(dev: string): {
    online: boolean;
    link: string | null;
    path: string | null;
    rttMs: number | null;
    since: number | null;
  } {
    const link = linkOf(this.core, dev);
    if (!link) return { online: false, link: null, path: null, rttMs: null, since: null };
    return {
      online: true,
      link: link.kind,
      path: pathLabel(link),
      rttMs: link.rttMs,
      since: link.openedAt,
    };
  }

  /**
   * `sd peer add DEVICE_ID`: links to a member by its id, at an address we know or through the
   * members that link to it; resolves with the link's path, or refuses with what is missing.
   */
  async callPeer(dev: string, waitMs = 25_000): Promise<{ device: string; fingerprint: string; path: string | null }> {
    if (!this.actor || this.port === null)
      throw new SdError('E_P2P_OFF', 'the daemon is not listening for peers; restart it with `sd start --p2p-port 0`');
    if (!this.isMember(dev))
      throw new SdError('E_NOT_A_MEMBER', `device ${dev.slice(0, 8)} is not a member of a library here`);
    // A member that links to it may not have said so yet (a device that joined a moment ago).
    const reachable = (): boolean =>
      this.online(dev).online || this.rendezvous.relaysOf(dev).length > 0 || this.book.of(dev).length > 0;
    for (let i = 0; i < 50 && !reachable(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!reachable())
      throw new SdError(
        'E_PEER_UNREACHABLE',
        `no address is known for device ${dev.slice(0, 8)} and no linked member reaches it; link to a member it links to (\`sd peer add HOST:PORT\`) first`,
      );
    this.actor.send({ type: 'CALL', dev });
    const end = Date.now() + waitMs;
    while (!this.online(dev).online && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const now = this.online(dev);
    if (!now.online) {
      const err = (this.status().peers.find((p) => p.device === dev)?.lastError ?? 'no answer').slice(0, 200);
      throw new SdError(
        'E_PEER_UNREACHABLE',
        `device ${dev.slice(0, 8)} was not reached in ${waitMs / 1000} s (${err})`,
      );
    }
    const link = linkOf(this.core, dev)!;
    return { device: dev, fingerprint: fingerprint(link.peerPublicKey), path: now.path };
  }
}
