// The peer side of the daemon: listens for links, dials known peers with backoff, runs one
// FeedSession per shared library on every link, and pairs new devices.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type WebSocket from 'ws';
import type { Core } from '../core.js';
import { SdError } from '../errors.js';
import { deviceIdOf, fingerprint } from '../events/keys.js';
import { writePrivateFile } from '../fsutil.js';
import type { Library } from '../library/library.js';
import { handshake } from '../transport/handshake.js';
import { PeerLink, linkChannel } from '../transport/link.js';
import { dialWs, listenWs, type WsListener } from '../transport/ws.js';
import { mdnsEnabled, startDiscovery, type Discovery } from '../transport/mdns.js';
import { FeedSession } from './feed.js';
import { WebRtcUpgrade, type AnyLink } from './webrtc-upgrade.js';
import { InviteBook, decodeCode, encodeCode, proof, sameBytes } from './pairing.js';
import { pack, unpack } from '../events/codec.js';

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

interface Dialer {
  addr: PeerAddress;
  state: 'connecting' | 'linked' | 'backoff' | 'stopped';
  attempts: number;
  timer?: NodeJS.Timeout;
  lastError: string | null;
  link?: PeerLink;
}

interface Linked {
  link: AnyLink;
  sessions: Map<string, FeedSession>;
  outbound: boolean;
  /** The WebSocket link a WebRTC link was upgraded from. */
  fallback?: Linked;
}

const MAX_BACKOFF_MS = 30_000;

export class PeerManager {
  private listener: WsListener | undefined;
  private discovery: Discovery | undefined;
  private readonly links = new Map<string, Linked>();
  private readonly dialers = new Map<string, Dialer>();
  readonly invites = new InviteBook();
  readonly refusals: Record<string, number> = {};
  private stopped = false;
  private paused = false;
  private readonly peersFile: string;
  private host = '127.0.0.1';

  constructor(private readonly core: Core) {
    this.peersFile = join(core.dataDir, 'peers.json');
    // A library that gains a member we are linked to (pairing, relay) starts syncing at once.
    core.libraries.onOpen((lib) =>
      lib.onEvent((ev) => {
        if (ev.type === 'device.added' || ev.type === 'library.created')
          for (const l of this.links.values()) this.attachLibraries(l);
        if (ev.type === 'device.revoked') {
          const l = this.links.get((ev.body as { dev: string }).dev);
          l?.fallback?.link.close('E_REVOKED: the device was revoked');
          l?.link.close('E_REVOKED: the device was revoked');
        }
      }),
    );
  }

  get port(): number | null {
    return this.listener?.port ?? null;
  }

  private webrtc = false;

  async start(host: string, port: number, opts: { webrtc?: boolean } = {}): Promise<void> {
    this.host = host;
    // WebRTC links (after a WebSocket link is up) are opt-in: SD_WEBRTC=on or { webrtc: true }.
    this.webrtc = opts.webrtc ?? process.env.SD_WEBRTC === 'on';
    this.listener = await listenWs(host, port, (ws, remote) => void this.accept(ws, remote));
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
    for (const l of [...this.links.values()]) {
      l.fallback?.link.close('E_SHUTDOWN: the peer is shutting down');
      l.link.close('E_SHUTDOWN: the peer is shutting down');
    }
    await this.discovery?.stop();
    await this.listener?.close();
  }

  private savedPeers(): PeerAddress[] {
    if (!existsSync(this.peersFile)) return [];
    try {
      return JSON.parse(readFileSync(this.peersFile, 'utf8')) as PeerAddress[];
    } catch {
      return [];
    }
  }

  /** `sd peer add HOST:PORT`: remembered, and dialed now and after every restart. */
  addPeer(addr: PeerAddress): void {
    const list = this.savedPeers().filter((p) => !(p.host === addr.host && p.port === addr.port));
    list.push(addr);
    writePrivateFile(this.peersFile, JSON.stringify(list, null, 2));
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

  private isAllowed = (dev: string, _pub: Uint8Array, mode: 'member' | 'pair'): boolean => {
    if (mode === 'pair') return this.invites.active > 0 || this.isMember(dev);
    return this.isMember(dev);
  };

  private refused(code: string): void {
    this.refusals[code] = (this.refusals[code] ?? 0) + 1;
  }

  private async accept(ws: WebSocket, remote: string): Promise<void> {
    if (this.paused) return void ws.terminate();
    try {
      const link = await handshake(ws, {
        privateKey: this.core.device.privateKey,
        publicKey: this.core.device.publicKey,
        mode: 'member',
        isAllowed: this.isAllowed,
        remoteAddress: remote,
      });
      if (link.info.mode === 'pair') return this.servePairing(link);
      link.info.mode = 'member';
      this.attach(link, false);
    } catch (e) {
      this.refused(e instanceof SdError ? e.code : 'E_HANDSHAKE');
      ws.terminate();
    }
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
      const ws = await dialWs(d.addr.host, d.addr.port);
      const link = await handshake(ws, {
        privateKey: this.core.device.privateKey,
        publicKey: this.core.device.publicKey,
        mode: 'member',
        isAllowed: this.isAllowed,
        expect: d.addr.dev,
        remoteAddress: this.key(d.addr),
      });
      d.addr.dev ??= link.peerId;
      d.state = 'linked';
      d.attempts = 0;
      d.lastError = null;
      d.link = link;
      link.once('close', (reason: string) => {
        d.lastError = reason;
        this.backoff(d);
      });
      this.attach(link, true);
    } catch (e) {
      d.lastError = e instanceof SdError ? `${e.code}: ${e.message}` : (e as Error).message;
      this.backoff(d);
    }
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

  private attach(link: PeerLink, outbound: boolean): void {
    const existing = this.links.get(link.peerId);
    if (existing?.link.isOpen) {
      // Both sides dialed: keep the link dialed by the smaller device id, on both sides alike.
      const keepNew =
        (outbound ? this.core.device.id : link.peerId) < (existing.outbound ? this.core.device.id : link.peerId);
      if (!keepNew) return link.close('E_DUPLICATE_LINK: a link to this device exists');
      existing.link.close('E_DUPLICATE_LINK: replaced by a newer link');
    }
    const l: Linked = { link, sessions: new Map(), outbound };
    this.links.set(link.peerId, l);
    link.on('message', (ch: string, bytes: Uint8Array) => ch === 'ctl' && this.onControl(l, bytes));
    link.once('close', (reason: string) => {
      for (const s of l.sessions.values()) s.close();
      if (this.links.get(link.peerId) === l) this.links.delete(link.peerId);
      this.publishCounts();
      // A member cut off for misbehaving is counted like a refused handshake.
      const abuse = /^E_(FLOOD|BAD_FRAME|FRAME_TOO_LARGE)\b/.exec(reason)?.[0];
      if (abuse) {
        this.refused(abuse);
        this.core.log?.warn({ peer: link.peerId, reason }, 'disconnected a misbehaving peer');
      }
    });
    this.attachLibraries(l);
    this.publishCounts();
    this.maybeUpgrade(link, outbound);
  }

  private maybeUpgrade(link: PeerLink, outbound: boolean): void {
    if (this.webrtc && link.info.kind === 'lan-ws') {
      new WebRtcUpgrade(link, outbound ? 'offerer' : 'answerer', {
        privateKey: this.core.device.privateKey,
        publicKey: this.core.device.publicKey,
        bindAddress: this.host === '0.0.0.0' ? undefined : this.host,
        isMember: (peer) => this.isMember(peer),
        onLink: (rtc) => this.upgrade(link.peerId, rtc),
        onError: (e) => this.refused(`E_WEBRTC: ${e.message}`.slice(0, 80)),
      });
    }
  }

  /** The feeds move to the WebRTC link; if it closes, the WebSocket link takes them back. */
  private upgrade(peer: string, rtc: AnyLink): void {
    const old = this.links.get(peer);
    if (!old || !old.link.isOpen) return rtc.close('E_LINK_CLOSED: the WebSocket link is gone');
    for (const s of old.sessions.values()) s.close();
    old.sessions.clear();
    const l: Linked = { link: rtc, sessions: new Map(), outbound: old.outbound, fallback: old };
    this.links.set(peer, l);
    rtc.once('close', () => {
      for (const s of l.sessions.values()) s.close();
      if (this.links.get(peer) !== l) return;
      if (old.link.isOpen && !this.paused && this.isMember(peer)) {
        this.links.set(peer, old);
        this.attachLibraries(old);
      } else this.links.delete(peer);
      this.publishCounts();
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
        this.refused(e.code);
        // Over its byte budget a link is cut at once; misbehaving messages after a few.
        if (e.code === 'E_RATE_LIMIT') l.link.close(`${e.code}: ${e.message}`);
        else if (
          ['E_BAD_SIGNATURE', 'E_BROKEN_CHAIN', 'E_BAD_EVENT', 'E_BAD_FRAME', 'E_BAD_WANT'].includes(e.code) &&
          (s.stats.rejected[e.code] ?? 0) > 20
        )
          l.link.close(`${e.code}: too many bad messages`);
      });
      l.sessions.set(lib.id, s);
      // Shared changes travel only inside signed events on this feed: no automerge-repo sync.
      s.start();
    }
  }

  private onControl(_l: Linked, _bytes: Uint8Array): void {
    // WebRTC signalling on 'ctl' is handled by WebRtcUpgrade.
  }

  private publishCounts(): void {
    this.core.services?.network.send({ type: 'LINKS', links: this.links.size });
    this.core.services?.sync.send({ type: 'PEERS', peers: this.links.size });
  }

  /** Cuts every link and stops dialing (a partition, in tests); heal() reconnects. */
  partition(): void {
    this.paused = true;
    for (const d of this.dialers.values()) clearTimeout(d.timer);
    for (const l of [...this.links.values()]) {
      l.fallback?.link.close('E_PARTITION: links cut');
      l.link.close('E_PARTITION: links cut');
    }
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

  private servePairing(link: PeerLink): void {
    const timer = setTimeout(() => link.close('E_PAIR_TIMEOUT: no pairing request'), 10_000);
    link.once('message', (ch: string, bytes: Uint8Array) => {
      clearTimeout(timer);
      try {
        const m = unpack(bytes) as { t: string; proof: Uint8Array; name: string };
        if (ch !== 'pair' || m.t !== 'join' || !(m.proof instanceof Uint8Array))
          throw new SdError('E_BAD_FRAME', 'not a pairing request');
        if (this.isMember(link.peerId))
          throw new SdError(
            'E_ALREADY_PAIRED',
            'this device is already a member; it syncs by itself when both daemons run',
          );
        const inv = this.invites.redeem(link.info.peerPublicKey, this.core.device.publicKey, m.proof);
        const lib = this.core.libraries.resolve(inv.lib);
        const name = typeof m.name === 'string' && m.name.length <= 200 ? m.name : 'device';
        lib.write(() => lib.append('device.added', { dev: link.peerId, pubkey: link.info.peerPublicKey, name }));
        // The roster as we know it: the joiner verifies every member's feed with these keys
        // until the roster's own events reach it (ids are hashes of the keys: not forgeable).
        const roster = (
          lib.db.prepare('SELECT dev, pubkey FROM devices WHERE revoked_at IS NULL').all() as {
            dev: string;
            pubkey: Buffer;
          }[]
        ).map((r) => [r.dev, new Uint8Array(r.pubkey)]);
        link.send(
          'pair',
          pack({
            t: 'welcome',
            lib: lib.id,
            libName: lib.name,
            inviterName: this.core.device.name,
            roster,
            proof: proof(inv.secret, 'inviter', this.core.device.publicKey, link.info.peerPublicKey),
          }),
        );
        this.core.log?.info({ peer: link.peerId, lib: lib.id }, 'paired a device');
        link.info.mode = 'member';
        this.attach(link, false);
      } catch (e) {
        const code = e instanceof SdError ? e.code : 'E_BAD_FRAME';
        this.refused(code);
        this.core.log?.warn({ peer: link.peerId, code, remote: link.info.remoteAddress }, 'refused a pairing attempt');
        try {
          link.send('pair', pack({ t: 'refuse', code, reason: (e as Error).message }));
        } catch {
          // gone already
        }
        setTimeout(() => link.close(code), 200).unref();
      }
    });
  }

  async join(code: string): Promise<{
    member: () => Promise<boolean>;
    library: string;
    libraryName: string;
    inviter: string;
    inviterName: string;
    fingerprint: string;
  }> {
    const c = decodeCode(code);
    const ws = await dialWs(c.host, c.port);
    const link = await handshake(ws, {
      privateKey: this.core.device.privateKey,
      publicKey: this.core.device.publicKey,
      mode: 'pair',
      isAllowed: () => true,
      expect: c.inviter,
      remoteAddress: `${c.host}:${c.port}`,
    });
    const reply = await new Promise<{
      t: string;
      lib?: string;
      libName?: string;
      inviterName?: string;
      roster?: [string, Uint8Array][];
      proof?: Uint8Array;
      code?: string;
      reason?: string;
    }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SdError('E_PAIR_TIMEOUT', 'the inviter did not answer')), 10_000);
      link.once('message', (_ch: string, b: Uint8Array) => {
        clearTimeout(timer);
        resolve(unpack(b) as never);
      });
      link.once('close', (reason: string) =>
        reject(new SdError('E_PAIR_REFUSED', `the inviter closed the link: ${reason}`)),
      );
      link.send(
        'pair',
        pack({
          t: 'join',
          proof: proof(c.secret, 'joiner', this.core.device.publicKey, link.info.peerPublicKey),
          name: this.core.device.name,
        }),
      );
    });
    if (reply.t === 'refuse') {
      link.close('refused');
      throw new SdError(reply.code ?? 'E_PAIR_REFUSED', reply.reason ?? 'the inviter refused the code');
    }
    if (
      reply.t !== 'welcome' ||
      !reply.lib ||
      !(reply.proof instanceof Uint8Array) ||
      !sameBytes(reply.proof, proof(c.secret, 'inviter', link.info.peerPublicKey, this.core.device.publicKey))
    ) {
      link.close('E_PAIR_PROOF');
      throw new SdError('E_PAIR_PROOF', 'the inviter could not prove it made this code; nothing was joined');
    }
    // The inviter starts its feed at once; its first frames may arrive while we open the library.
    link.info.mode = 'member';
    const joined = await this.core.libraries.join(reply.lib, { dev: link.peerId, pubkey: link.info.peerPublicKey });
    const anchor = joined.db.prepare('INSERT OR IGNORE INTO trust_anchors (dev, pubkey) VALUES (?, ?)');
    for (const [dev, pub] of Array.isArray(reply.roster) ? reply.roster : []) {
      if (typeof dev === 'string' && pub instanceof Uint8Array && pub.length === 32 && deviceIdOf(pub) === dev)
        anchor.run(dev, pub);
    }
    const addr = { host: c.host, port: c.port, dev: link.peerId };
    const list = this.savedPeers().filter((p) => !(p.host === addr.host && p.port === addr.port));
    writePrivateFile(this.peersFile, JSON.stringify([...list, addr], null, 2));
    link.info.mode = 'member';
    const d: Dialer = { addr, state: 'linked', attempts: 0, lastError: null, link };
    this.dialers.set(this.key(addr), d);
    link.once('close', (reason: string) => {
      d.lastError = reason;
      this.backoff(d);
    });
    // The roster arrives in the inviter's feed; until then its pairing key verifies that feed.
    this.attachJoined(link, reply.lib);
    return {
      // Our own events count once the roster that names us has arrived (the end of the inviter's feed).
      member: () => onRoster(joined, this.core.device.id, 15_000),
      library: reply.lib,
      libraryName: reply.libName ?? '',
      inviter: link.peerId,
      inviterName: reply.inviterName ?? '',
      fingerprint: fingerprint(link.info.peerPublicKey),
    };
  }

  private attachJoined(link: PeerLink, lib: string): void {
    const l: Linked = { link, sessions: new Map(), outbound: true };
    this.links.set(link.peerId, l);
    const library = this.core.libraries.resolve(lib);
    const s = new FeedSession(library, linkChannel(link, `feed:${lib}`));
    l.sessions.set(lib, s);
    link.once('close', () => {
      for (const x of l.sessions.values()) x.close();
      if (this.links.get(link.peerId) === l) this.links.delete(link.peerId);
      this.publishCounts();
    });
    s.start();
    this.publishCounts();
    this.maybeUpgrade(link, true);
  }

  // ---- status ----

  status(): {
    port: number | null;
    refusals: Record<string, number>;
    peers: {
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
    }[];
  } {
    const peers = new Map<string, ReturnType<PeerManager['status']>['peers'][number]>();
    for (const d of this.dialers.values()) {
      const dev = d.addr.dev ?? `${d.addr.host}:${d.addr.port}`;
      peers.set(dev, {
        device: dev,
        address: this.key(d.addr),
        state: d.state === 'linked' ? 'live' : d.state === 'connecting' ? 'handshake' : d.state,
        link: null,
        since: null,
        lastError: d.lastError,
        libraries: [],
      });
    }
    for (const [dev, l] of this.links) {
      const libs = [...l.sessions]
        .map(([library, s]) => {
          const feeds = s.lag();
          return {
            library,
            received: s.stats.received,
            sent: s.stats.sent,
            rejected: s.stats.rejected,
            lastError: s.stats.lastError,
            behind: feeds.reduce((n, f) => n + Math.max(0, f.theirs - f.ours), 0),
            ahead: feeds.reduce((n, f) => n + Math.max(0, f.ours - f.theirs), 0),
            feeds,
          };
        })
        .map((x) => {
          // Every Automerge change rides a signed event: equal feeds mean both sides hold the same
          // changes. Documents not loaded yet (lazy) are projected from the log all the same.
          const lib = this.core.libraries.list().find((y) => y.id === x.library);
          const shared = !lib?.repo ? 'not loaded' : x.behind === 0 && x.ahead === 0 ? 'in sync' : 'catching up';
          return { ...x, shared };
        });
      const catching = libs.some((x) => x.behind > 0);
      const prev = peers.get(dev);
      peers.set(dev, {
        device: dev,
        address: prev?.address ?? l.link.info.remoteAddress,
        state: catching ? 'catching up' : 'live',
        link: l.link.info.kind,
        since: l.link.openedAt,
        lastError: prev?.lastError ?? null,
        libraries: libs,
      });
    }
    return { port: this.port, refusals: this.refusals, peers: [...peers.values()] };
  }

  online(dev: string): { online: boolean; link: string | null } {
    const l = this.links.get(dev);
    return { online: !!l?.link.isOpen, link: l?.link.isOpen ? l.link.info.kind : null };
  }
}
