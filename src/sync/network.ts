// What the daemon and the commands ask of the network: start and stop listening, invite and join,
// add and remove peers, and the status. The behaviour lives in the actors (NetworkService with a
// peer actor per device, SyncService with a session per peer and library); this class supplies
// their effects (the address book, pairing, the refusal log) and reads their snapshots.
import { join } from 'node:path';
import type { AnyActorRef } from 'xstate';
import type { NetHost } from './host.js';
import { SdError } from '../errors.js';
import type { Library } from '../library/library.js';
import type { NetworkDeps } from '../actors/network/effects.js';
import type { Verdict } from '../transport/handshake.js';
import type { StrangerLimits } from '../transport/gate.js';
import type { WsListener } from '../transport/ws.js';
import type { LinkMode, PeerLink } from '../transport/types.js';
import { AddressBook, type BookEntry } from './address-book.js';
import { AddressExchange } from './address-exchange.js';
import { InviteBook } from './pairing.js';
import { inviteCode, joinLibrary, serveStranger } from './pair-sides.js';
import { RefusalLog } from './refusals.js';
import { networkStatus, lastErrorOf, linkOf, onlineOf, type PeerStatus } from './peer-status.js';
import { codeOf } from '../error-codes.js';
import { IceConfig, stunOnly, toRtcServers, type IceSettings } from './ice.js';
import { Rendezvous } from './rendezvous.js';
import { addPeer, callPeer, type PeerAddHost, type PeerAddress } from './peer-add.js';

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
  private readonly exchange: AddressExchange;
  /** What `sd peer add` reads of the network. */
  private readonly adder: PeerAddHost;

  constructor(
    private readonly core: NetHost,
    private readonly opts: NetworkOptions = {},
  ) {
    this.book = new AddressBook(join(core.dataDir, 'peers.json'));
    this.exchange = new AddressExchange({
      core,
      book: this.book,
      learnsAddresses: () => this.opts.learnAddresses !== false,
      boundHost: () => this.host,
      port: () => this.port,
      memberOf: (lib, dev) => this.memberOf(lib, dev),
      isMember: (dev) => this.isMember(dev),
      tell: (dev, a) => this.tell(dev, a),
    });
    this.adder = {
      core,
      book: this.book,
      actor: () => this.actor,
      port: () => this.port,
      verdict: (address) => this.verdict(address),
      isMember: (dev) => this.isMember(dev),
      online: (dev) => this.online(dev),
      relaysOf: (dev) => this.rendezvous.relaysOf(dev),
      status: () => this.status(),
    };
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
        if (ev.type === 'device.added' || ev.type === 'library.created') this.exchange.placeHeld();
        if (ev.type === 'device.added' || ev.type === 'library.created' || ev.type === 'device.revoked')
          this.rendezvous.rosterChanged();
      }),
    );
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
        serveStranger(
          { core: this.core, invites: this.invites, refusals: this.log, isMember: (dev) => this.isMember(dev) },
          link,
          ticket,
          inbound,
        );
      },
      onLink: (link) => {
        this.exchange.exchange(link);
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

  // ---- peers ----

  /** `sd peer add HOST:PORT` (peer-add.ts). */
  addPeer(addr: PeerAddress): Promise<{ device: string; fingerprint: string }> {
    return addPeer(this.adder, addr);
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
    const at = { invites: this.invites, port: this.port, host: this.host, inviter: this.core.device.id };
    return inviteCode(at, lib, ttlMs, advertiseHost);
  }

  join(code: string): ReturnType<typeof joinLibrary> {
    return joinLibrary(this.core, this.book, code, (link, address) =>
      this.actor?.send({ type: 'INBOUND', link, outbound: true, address }),
    );
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
    return lastErrorOf(this.core, dev);
  }

  online(dev: string): ReturnType<typeof onlineOf> {
    return onlineOf(this.core, dev);
  }

  /** `sd peer add DEVICE_ID` (peer-add.ts). */
  callPeer(dev: string, waitMs = 25_000): Promise<{ device: string; fingerprint: string; path: string | null }> {
    return callPeer(this.adder, dev, waitMs);
  }
}
