// The peer side of the daemon: listens for links, dials known peers with backoff, runs one
// FeedSession per shared library on every link, and pairs new devices. Every link, WebSocket or
// WebRTC, is the same encrypted PeerLink (src/transport).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../core.js';
import { SdError } from '../errors.js';
import { deviceIdOf, fingerprint } from '../events/keys.js';
import { writePrivateFile } from '../fsutil.js';
import type { Library } from '../library/library.js';
import type { Verdict } from '../transport/handshake.js';
import { openPeerLink } from '../transport/peer-link.js';
import { StrangerGate, type StrangerLimits, type Ticket } from '../transport/gate.js';
import { connectWs, listenWs, type WsListener } from '../transport/ws.js';
import { mdnsEnabled, startDiscovery, type Discovery } from '../transport/mdns.js';
import type { CloseReason, LinkMode, MessageTransport, PeerLink } from '../transport/types.js';
import { FeedSession } from './feed.js';
import { linkChannel } from './mux-channel.js';
import { WebRtcUpgrade } from './webrtc-upgrade.js';
import { InviteBook, encodeCode } from './pairing.js';
import { joinWithCode, servePairing, type PairingHost } from './pair-link.js';
import { RefusalLog } from './refusals.js';
import { peerStatus, type PeerStatus } from './peer-status.js';

/** Resolves true once `dev` is on the library's roster, false after `ms`. */
function onRoster(lib: Library, dev: string, ms: number): Promise<boolean> {
  const on = (): boolean => !!lib.db.prepare('SELECT 1 FROM devices WHERE dev = ?').get(dev);
  if (on()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(timer);
      stop();
      resolve(v);
    };
    const stop = lib.onEvent(() => on() && done(true));
    const timer = setTimeout(() => done(on()), ms);
  });
}

export interface PeerAddress {
  host: string;
  port: number;
  dev?: string;
}

export interface Dialer {
  addr: PeerAddress;
  state: 'connecting' | 'linked' | 'backoff' | 'stopped';
  attempts: number;
  timer?: NodeJS.Timeout;
  lastError: string | null;
  link?: PeerLink;
}

export interface Linked {
  link: PeerLink;
  sessions: Map<string, FeedSession>;
  outbound: boolean;
  /** The WebSocket link a WebRTC link was upgraded from. */
  fallback?: Linked;
}

const MAX_BACKOFF_MS = 30_000;
/** Closes that a member's own misbehaviour caused, detected here: counted like refusals. */
const ABUSE = new Set([
  'E_FLOOD',
  'E_BAD_FRAME',
  'E_FRAME_TOO_LARGE',
  'E_FRAME_TAMPERED',
  'E_FRAME_REPLAYED',
  'E_FRAME_MISSING',
]);

export class PeerManager {
  private listener: WsListener | undefined;
  private discovery: Discovery | undefined;
  private readonly links = new Map<string, Linked>();
  private readonly dialers = new Map<string, Dialer>();
  readonly invites = new InviteBook();
  private readonly log = new RefusalLog(() => this.core.log);
  private stopped = false;
  private paused = false;
  private readonly peersFile: string;
  private host = '127.0.0.1';
  private webrtc = false;

  constructor(
    private readonly core: Core,
    private readonly strangerLimits?: StrangerLimits,
  ) {
    this.peersFile = join(core.dataDir, 'peers.json');
    // A library that gains a member we are linked to (pairing, relay) starts syncing at once.
    core.libraries.onOpen((lib) =>
      lib.onEvent((ev) => {
        if (ev.type === 'device.added' || ev.type === 'library.created')
          for (const l of this.links.values()) this.attachLibraries(l);
        if (ev.type === 'device.revoked') {
          const l = this.links.get((ev.body as { dev: string }).dev);
          l?.fallback?.link.close('E_REVOKED', 'the device was revoked');
          l?.link.close('E_REVOKED', 'the device was revoked');
        }
      }),
    );
  }

  get port(): number | null {
    return this.listener?.port ?? null;
  }

  /** Connections held that have not proven a roster key yet. */
  get strangers(): number {
    return this.listener?.gate.strangers ?? 0;
  }

  /** Refusals since start, by code. */
  get refusals(): Record<string, number> {
    return this.log.counts;
  }

  async start(host: string, port: number, opts: { webrtc?: boolean } = {}): Promise<void> {
    this.host = host;
    // WebRTC links (after a WebSocket link is up) are opt-in: SD_WEBRTC=on or { webrtc: true }.
    this.webrtc = opts.webrtc ?? process.env.SD_WEBRTC === 'on';
    this.listener = await listenWs(
      {
        host,
        port,
        gate: new StrangerGate(this.strangerLimits),
        onTurnedAway: (address) => this.log.note('E_TOO_MANY_STRANGERS', address),
      },
      (t, ticket) => void this.accept(t, ticket),
    );
    this.core.services?.network.send({ type: 'LISTENING', port: this.listener.port });
    for (const a of this.savedPeers()) this.dial(a);
    // Members found on the LAN are dialed like saved peers (strangers are ignored).
    if (mdnsEnabled()) {
      this.discovery = startDiscovery(this.core.device.id, this.listener.port, (p) => {
        if (this.isMember(p.dev) && !this.links.get(p.dev)?.link.isOpen)
          this.dial({ host: p.host, port: p.port, dev: p.dev });
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const d of this.dialers.values()) clearTimeout(d.timer);
    this.closeAll('E_SHUTDOWN', 'the peer is shutting down');
    this.log.flush();
    await this.discovery?.stop();
    await this.listener?.close();
  }

  private closeAll(code: string, message: string): void {
    for (const l of [...this.links.values()]) {
      l.fallback?.link.close(code, message);
      l.link.close(code, message);
    }
  }

  private savedPeers(): PeerAddress[] {
    if (!existsSync(this.peersFile)) return [];
    try {
      return JSON.parse(readFileSync(this.peersFile, 'utf8')) as PeerAddress[];
    } catch {
      return [];
    }
  }

  private savePeer(addr: PeerAddress): void {
    const list = this.savedPeers().filter((p) => !(p.host === addr.host && p.port === addr.port));
    writePrivateFile(this.peersFile, JSON.stringify([...list, addr], null, 2));
  }

  /** `sd peer add HOST:PORT`: remembered, and dialed now and after every restart. */
  addPeer(addr: PeerAddress): void {
    this.savePeer(addr);
    this.dial(addr);
  }

  /** On the roster (or a pairing trust anchor) of a library we share, and not revoked. */
  private memberOf(lib: Library, dev: string): boolean {
    const k = lib.keyOf(dev);
    return !!k && k.revokedSeq === null;
  }

  private isMember(dev: string): boolean {
    return dev !== this.core.device.id && this.core.libraries.list().some((lib) => this.memberOf(lib, dev));
  }

  /** Who may link: members; strangers only to pair, while an invite is open and they are not locked out. */
  private verdict(address: string): (pub: Uint8Array, dev: string, mode: LinkMode) => Verdict {
    return (_pub, dev, mode) => {
      if (this.isMember(dev)) return true;
      if (this.core.libraries.list().some((lib) => lib.keyOf(dev)?.revokedSeq != null))
        return { code: 'E_REVOKED', message: `device ${dev.slice(0, 8)} was revoked` };
      if (mode === 'pair' && dev !== this.core.device.id) return this.invites.admit(address);
      return false;
    };
  }

  private async accept(t: MessageTransport, ticket: Ticket): Promise<void> {
    if (this.paused) return t.close({ code: 'E_PARTITION', message: 'links cut' });
    try {
      const link = await openPeerLink(t, {
        role: 'responder',
        privateKey: this.core.device.privateKey,
        isAllowed: this.verdict(ticket.address),
      });
      if (link.mode === 'pair') {
        // Still a stranger until it has paired: it holds its ticket, and may only speak 'pair'.
        link.restrict('pair');
        link.once('close', () => ticket.release());
        return servePairing(this.pairingHost(ticket), link, ticket.address);
      }
      ticket.release();
      this.attach(link, false);
    } catch (e) {
      // The ticket goes with the socket (a refused stranger may linger a moment to read why).
      this.log.note(e instanceof SdError ? e.code : 'E_BAD_HANDSHAKE', ticket.address);
    }
  }

  /** For one pairing attempt: a stranger that pairs stops being one. */
  private pairingHost(ticket: Ticket): PairingHost {
    return {
      core: this.core,
      invites: this.invites,
      refusals: this.log,
      isMember: (dev) => this.isMember(dev),
      onPaired: (link) => {
        ticket.release();
        link.restrict(null);
        this.attach(link, false);
      },
    };
  }

  private key(a: PeerAddress): string {
    return `${a.host}:${a.port}`;
  }

  dial(addr: PeerAddress): void {
    const k = this.key(addr);
    if (this.stopped || this.dialers.has(k)) return;
    const d: Dialer = { addr, state: 'connecting', attempts: 0, lastError: null };
    this.dialers.set(k, d);
    void this.connect(d);
  }

  private async connect(d: Dialer): Promise<void> {
    if (this.stopped || this.paused) return;
    d.state = 'connecting';
    d.attempts++;
    try {
      const t = await connectWs(d.addr.host, d.addr.port);
      const link = await openPeerLink(t, {
        role: 'initiator',
        privateKey: this.core.device.privateKey,
        expectPeerId: d.addr.dev,
        isAllowed: this.verdict(this.key(d.addr)),
      });
      d.addr.dev ??= link.peerId;
      d.attempts = 0;
      this.linked(d, link);
      this.attach(link, true);
    } catch (e) {
      d.lastError = e instanceof SdError ? `${e.code}: ${e.message}` : (e as Error).message;
      this.backoff(d);
    }
  }

  private linked(d: Dialer, link: PeerLink): void {
    d.state = 'linked';
    d.lastError = null;
    d.link = link;
    link.once('close', (r) => {
      d.lastError = `${r.code}: ${r.message}`;
      this.backoff(d);
    });
  }

  private backoff(d: Dialer): void {
    if (this.stopped || this.paused) return;
    d.state = 'backoff';
    d.link = undefined;
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(d.attempts, 7));
    clearTimeout(d.timer);
    d.timer = setTimeout(() => void this.connect(d), delay);
    d.timer.unref();
  }

  private attach(link: PeerLink, outbound: boolean): Linked | undefined {
    const existing = this.links.get(link.peerId);
    if (existing?.link.isOpen) {
      // Both sides dialed: keep the link dialed by the smaller device id, on both sides alike.
      const keepNew =
        (outbound ? this.core.device.id : link.peerId) < (existing.outbound ? this.core.device.id : link.peerId);
      if (!keepNew) return void link.close('E_DUPLICATE_LINK', 'a link to this device exists');
      existing.link.close('E_DUPLICATE_LINK', 'replaced by a newer link');
    }
    const l: Linked = { link, sessions: new Map(), outbound };
    this.links.set(link.peerId, l);
    link.once('close', (reason) => this.detach(l, reason));
    this.attachLibraries(l);
    this.publishCounts();
    this.maybeUpgrade(link, outbound);
    return l;
  }

  private detach(l: Linked, reason: CloseReason): void {
    for (const s of l.sessions.values()) s.close();
    if (this.links.get(l.link.peerId) === l) this.links.delete(l.link.peerId);
    this.publishCounts();
    // A member cut off for misbehaving (detected here, not told by the peer) is counted.
    if (ABUSE.has(reason.code) && !reason.byPeer) {
      this.log.note(reason.code, l.link.remoteAddress, { peer: l.link.peerId, reason: reason.message });
    }
  }

  private maybeUpgrade(link: PeerLink, outbound: boolean): void {
    if (!this.webrtc || link.kind !== 'lan-ws') return;
    new WebRtcUpgrade(link, outbound ? 'offerer' : 'answerer', {
      privateKey: this.core.device.privateKey,
      bindAddress: this.host === '0.0.0.0' ? undefined : this.host,
      isMember: (peer) => this.isMember(peer),
      onLink: (rtc) => this.upgrade(link.peerId, rtc),
      onError: (e) => this.log.note(e instanceof SdError ? e.code : 'E_WEBRTC', link.remoteAddress),
    });
  }

  /** The feeds move to the WebRTC link; if it closes, the WebSocket link takes them back. */
  private upgrade(peer: string, rtc: PeerLink): void {
    const old = this.links.get(peer);
    if (!old || !old.link.isOpen) return rtc.close('E_LINK_CLOSED', 'the WebSocket link is gone');
    for (const s of old.sessions.values()) s.close();
    old.sessions.clear();
    const l: Linked = { link: rtc, sessions: new Map(), outbound: old.outbound, fallback: old };
    this.links.set(peer, l);
    rtc.once('close', (reason) => {
      for (const s of l.sessions.values()) s.close();
      if (this.links.get(peer) !== l) return;
      if (old.link.isOpen && !this.paused && this.isMember(peer)) {
        this.links.set(peer, old);
        this.attachLibraries(old);
      } else this.links.delete(peer);
      this.publishCounts();
      if (ABUSE.has(reason.code) && !reason.byPeer) this.log.note(reason.code, rtc.remoteAddress);
    });
    this.attachLibraries(l);
  }

  /** A FeedSession for every library both devices are members of. */
  private attachLibraries(l: Linked): void {
    if (!l.link.isOpen) return;
    for (const lib of this.core.libraries.list()) {
      if (l.sessions.has(lib.id)) continue;
      if (!this.memberOf(lib, l.link.peerId)) continue;
      const s = new FeedSession(lib, linkChannel(l.link, `feed:${lib.id}`), (e) => {
        this.log.note(e.code, l.link.remoteAddress, { peer: l.link.peerId, lib: lib.id });
        // Over its byte budget a link is cut at once; misbehaving messages after a few.
        if (e.code === 'E_RATE_LIMIT') l.link.close(e.code, e.message);
        else if (
          ['E_BAD_SIGNATURE', 'E_BROKEN_CHAIN', 'E_BAD_EVENT', 'E_BAD_FRAME', 'E_BAD_WANT'].includes(e.code) &&
          (s.stats.rejected[e.code] ?? 0) > 20
        )
          l.link.close(e.code, 'too many bad messages');
      });
      l.sessions.set(lib.id, s);
      // Shared changes travel only inside signed events on this feed: no automerge-repo sync.
      s.start();
    }
  }

  private publishCounts(): void {
    this.core.services?.network.send({ type: 'LINKS', links: this.links.size });
    this.core.services?.sync.send({ type: 'PEERS', peers: this.links.size });
  }

  /** Cuts every link and stops dialing (a partition, in tests); heal() reconnects. */
  partition(): void {
    this.paused = true;
    for (const d of this.dialers.values()) clearTimeout(d.timer);
    this.closeAll('E_PARTITION', 'links cut');
  }

  heal(): void {
    this.paused = false;
    for (const d of this.dialers.values()) {
      clearTimeout(d.timer);
      if (!d.link?.isOpen) void this.connect(d);
    }
  }

  // ---- pairing ----

  invite(lib: Library, ttlMs: number, advertiseHost?: string): { code: string; expires: number } {
    if (!this.listener)
      throw new SdError(
        'E_P2P_OFF',
        'the daemon is not listening for peers; start it with `sd start --p2p-port 0` (or a port)',
      );
    const inv = this.invites.create(lib.id, ttlMs);
    const host = advertiseHost ?? (this.host === '0.0.0.0' ? '127.0.0.1' : this.host);
    return {
      code: encodeCode({ host, port: this.listener.port, inviter: this.core.device.id, secret: inv.secret }),
      expires: inv.expires,
    };
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
    const addr = { host: invite.host, port: invite.port, dev: link.peerId };
    this.savePeer(addr);
    const d: Dialer = { addr, state: 'linked', attempts: 0, lastError: null };
    this.dialers.set(this.key(addr), d);
    this.linked(d, link);
    // The roster arrives in the inviter's feed; until then its pairing key verifies that feed.
    if (link.isOpen) this.attach(link, true);
    return {
      // Our own events count once the roster that names us has arrived (the end of the inviter's feed).
      member: () => onRoster(joined, this.core.device.id, 15_000),
      library: welcome.lib,
      libraryName: welcome.libName,
      inviter: link.peerId,
      inviterName: welcome.inviterName,
      fingerprint: fingerprint(link.peerPublicKey),
    };
  }

  // ---- status ----

  status(): { port: number | null; refusals: Record<string, number>; peers: PeerStatus[] } {
    return peerStatus(this.core, this.port, this.refusals, this.dialers.values(), this.links);
  }

  online(dev: string): { online: boolean; link: string | null } {
    const l = this.links.get(dev);
    return { online: !!l?.link.isOpen, link: l?.link.isOpen ? l.link.kind : null };
  }
}
