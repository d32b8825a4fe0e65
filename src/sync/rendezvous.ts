// Links between devices that cannot dial each other, found through the members both link to.
// On every member link, on the `ctl` channel:
// - `reach`: the devices this one holds a link to (only those that share a library with the
//   listener), so each device knows which members can forward signalling to which device;
// - `sig`: WebRTC offers, answers and ICE candidates, sealed for the far device (transport/seal.ts).
//   A member forwards a `sig` that its sender wrote for itself to the named device, if both share a
//   library with it, at a bounded rate; it can read none of it and forwards nothing further;
// - `ice`: the STUN/TURN servers a node hands its members (sync/ice.ts), with minted credentials;
// - `hi`: sent once we listen on a new link; what the far end sent before that is sent again.
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { SdError } from '../errors.js';
import { pack, unpack } from '../events/codec.js';
import { seal, SealOpener } from '../transport/seal.js';
import type { PeerLink } from '../transport/types.js';
import type { RtcSignal } from '../transport/webrtc.js';
import type { RvPurpose } from '../actors/network/peer-types.js';
import { SHARED_TTL_SEC, decodeShared, encodeShared, type IceConfig, type IceUrl } from './ice.js';
import type { RefusalLog } from './refusals.js';

const DevId = z.string().regex(/^[a-z2-7]{32}$/);
const Reach = z.object({ t: z.literal('reach'), devs: z.array(DevId).max(256) });
const Sig = z.object({ t: z.literal('sig'), from: DevId, to: DevId, box: z.instanceof(Uint8Array) });
const SigBody = z.object({
  sid: z.string().min(1).max(40),
  purpose: z.enum(['link', 'probe']),
  s: z.union([
    z.object({
      type: z.literal('description'),
      sdp: z.string().max(16 * 1024),
      descType: z.enum(['offer', 'answer', 'pranswer', 'rollback', 'unspec']),
    }),
    z.object({ type: z.literal('candidate'), candidate: z.string().max(1024), mid: z.string().max(64) }),
  ]),
});

/** A sealed signalling message is small: an SDP is about a kilobyte. */
const MAX_BOX = 32 * 1024;
/** Signalling a member forwards for one device: a burst of 120 messages, then 2 a second. */
const SIG_BURST = 120;
const SIG_RATE = 2;
const REACH_CHECK_MS = 1000;

export type RendezvousEvent =
  | { type: 'RELAY'; dev: string; via: string; up: boolean }
  | { type: 'SIGNAL'; dev: string; via: string; sid: string; purpose: RvPurpose; signal: RtcSignal }
  | { type: 'ICE_CHANGED' };

export interface RendezvousHost {
  self: { id: string; privateKey: KeyObject };
  isMember(dev: string): boolean;
  /** Some library of ours has both devices as members. */
  shareLibrary(a: string, b: string): boolean;
  publicKeyOf(dev: string): Uint8Array | undefined;
  /** The link the device's actor uses now, if any. */
  linkTo(dev: string): PeerLink | undefined;
  tell(e: RendezvousEvent): void;
  ice: IceConfig;
  log: RefusalLog;
}

export class Rendezvous {
  /** Open member links, by device. */
  private readonly links = new Map<string, Set<PeerLink>>();
  /** For each member: the devices it said it links to. */
  private readonly heard = new Map<string, Set<string>>();
  /** ICE servers members handed us, until their sender is known as a member. */
  private readonly handed = new Map<string, { servers: IceUrl[]; expires: number }>();
  /** What each member said, as it said it. */
  private readonly said = new Map<string, string[]>();
  private readonly sent = new WeakMap<PeerLink, string>();
  private readonly shares = new WeakMap<PeerLink, () => void>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly opener: SealOpener;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly host: RendezvousHost) {
    this.opener = new SealOpener(host.self);
  }

  /**
   * Who shares a library with whom changes as rosters arrive (a device that joined a moment ago)
   * and as devices are revoked: what each member hears is checked again every second (only a
   * change is sent).
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.rosterChanged(), REACH_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A roster changed here: what members said is read again at once (a device they reach may be
   * a member now, or no longer), and whom we reach is said again if that changed.
   */
  rosterChanged(): void {
    this.announce();
    for (const via of this.said.keys()) this.settle(via);
    this.settleIce();
  }

  /** Members that said they link to `dev`. */
  relaysOf(dev: string): string[] {
    return [...this.heard].filter(([, devs]) => devs.has(dev)).map(([via]) => via);
  }

  /** Every member link, once adopted: listen on ctl, say whom we reach, hand our ICE servers. */
  onLink(link: PeerLink): void {
    const peer = link.peerId;
    const set = this.links.get(peer) ?? new Set();
    if (set.has(link)) return;
    set.add(link);
    this.links.set(peer, set);
    link.on('message', (ch, bytes) => ch === 'ctl' && this.receive(link, bytes));
    const share = (): void => {
      const s = this.host.ice.forMember(peer);
      if (s && link.isOpen) link.send('ctl', encodeShared(s.servers, s.expires));
    };
    this.shares.set(link, share);
    share();
    // Sent once we listen: what the far end sent before it could be heard is sent again.
    if (link.isOpen) link.send('ctl', pack({ t: 'hi' }));
    const refresh = setInterval(share, (SHARED_TTL_SEC * 1000) / 2);
    refresh.unref();
    link.once('close', () => {
      clearInterval(refresh);
      set.delete(link);
      if (set.size === 0) {
        this.links.delete(peer);
        this.forget(peer);
      }
      this.announce();
    });
    this.announce();
  }

  /** Seals signalling for `dev` and hands it to member `via`. */
  signal(dev: string, via: string, body: { sid: string; purpose: RvPurpose; s: RtcSignal }): void {
    const publicKey = this.host.publicKeyOf(dev);
    if (!publicKey) throw new SdError('E_NOT_A_MEMBER', `device ${dev.slice(0, 8)} is not a member of a library here`);
    const link = this.host.linkTo(via);
    if (!link?.isOpen) throw new SdError('E_NO_RELAY', `member ${via.slice(0, 8)} is not linked any more`);
    const box = seal(body, this.host.self, { id: dev, publicKey });
    link.send('ctl', pack({ t: 'sig', from: this.host.self.id, to: dev, box }));
  }

  /** Tells every linked member, once per turn, whom we link to (what changed only). */
  private announce(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const [peer, set] of this.links) {
        const devs = [...this.links.keys()].filter((d) => d !== peer && this.host.shareLibrary(peer, d)).sort();
        const key = devs.join(',');
        for (const link of set) {
          if (!link.isOpen || this.sent.get(link) === key) continue;
          this.sent.set(link, key);
          try {
            link.send('ctl', pack({ t: 'reach', devs: devs.slice(0, 256) }));
          } catch {
            // closing: its close event follows
          }
        }
      }
    });
  }

  private forget(via: string): void {
    for (const dev of this.heard.get(via) ?? []) this.host.tell({ type: 'RELAY', dev, via, up: false });
    this.heard.delete(via);
    this.said.delete(via);
  }

  private receive(link: PeerLink, bytes: Uint8Array): void {
    let v: unknown;
    try {
      v = unpack(bytes);
    } catch {
      return;
    }
    const t = (v as { t?: unknown } | undefined)?.t;
    if (t === 'hi') {
      this.sent.delete(link);
      this.shares.get(link)?.();
      return this.announce();
    }
    if (t === 'reach') return this.onReach(link, v);
    if (t === 'sig') return this.onSig(link, bytes, v);
    if (t === 'ice') {
      const shared = decodeShared(bytes);
      if (!shared) return this.host.log.note('E_BAD_FRAME', link.remoteAddress, { peer: link.peerId, what: 'ice' });
      // Right after pairing, the roster naming the node may still be on its way: kept until it is.
      this.handed.set(link.peerId, shared);
      this.settleIce();
    }
  }

  private onReach(link: PeerLink, v: unknown): void {
    const r = Reach.safeParse(v);
    if (!r.success) return this.host.log.note('E_BAD_FRAME', link.remoteAddress, { peer: link.peerId });
    this.said.set(link.peerId, r.data.devs);
    this.settle(link.peerId);
  }

  private settleIce(): void {
    for (const [from, shared] of this.handed)
      if (this.host.isMember(from)) {
        // A refresh (new credentials for the same servers) changes nothing for a call.
        const urls = (s: { servers: IceUrl[] } | undefined): string =>
          JSON.stringify((s?.servers ?? []).map((u) => [u.kind, u.host, u.port, u.transport]));
        const changed = urls(this.host.ice.handedFrom(from)) !== urls(shared);
        this.host.ice.receive(from, shared);
        this.handed.delete(from);
        if (changed) this.host.tell({ type: 'ICE_CHANGED' });
      }
  }

  /** What member `via` said, less the devices we do not know as members (yet: their roster may still be on its way). */
  private settle(via: string): void {
    const said = this.said.get(via) ?? [];
    const now = new Set(said.filter((d) => d !== this.host.self.id && d !== via && this.host.isMember(d)));
    const before = this.heard.get(via) ?? new Set<string>();
    for (const d of before) if (!now.has(d)) this.host.tell({ type: 'RELAY', dev: d, via, up: false });
    for (const d of now) if (!before.has(d)) this.host.tell({ type: 'RELAY', dev: d, via, up: true });
    this.heard.set(via, now);
  }

  private onSig(link: PeerLink, bytes: Uint8Array, v: unknown): void {
    const m = Sig.safeParse(v);
    const where = link.remoteAddress;
    if (!m.success || m.data.box.length > MAX_BOX)
      return this.host.log.note('E_BAD_FRAME', where, { peer: link.peerId, what: 'signalling' });
    const { from, to, box } = m.data;
    if (to !== this.host.self.id) return this.forward(link, bytes, from, to);
    const publicKey = this.host.publicKeyOf(from);
    if (!publicKey || !this.host.isMember(from))
      return this.host.log.note('E_PEER_NOT_ALLOWED', where, { peer: from, what: 'signalling' });
    let body: unknown;
    try {
      body = this.opener.open(box, { id: from, publicKey });
    } catch (e) {
      return this.host.log.note(e instanceof SdError ? e.code : 'E_BAD_SEAL', where, { peer: from });
    }
    const b = SigBody.safeParse(body);
    if (!b.success) return this.host.log.note('E_BAD_FRAME', where, { peer: from, what: 'signalling' });
    this.host.tell({
      type: 'SIGNAL',
      dev: from,
      via: link.peerId,
      sid: b.data.sid,
      purpose: b.data.purpose,
      signal: b.data.s as RtcSignal,
    });
  }

  /** As the member in the middle: forwards what a device wrote for itself to a device both share a library with. */
  private forward(link: PeerLink, bytes: Uint8Array, from: string, to: string): void {
    const where = link.remoteAddress;
    if (from !== link.peerId)
      return this.host.log.note('E_BAD_FRAME', where, {
        peer: link.peerId,
        what: 'signalling in the name of another device',
      });
    if (!this.host.shareLibrary(from, to))
      return this.host.log.note('E_PEER_NOT_ALLOWED', where, { peer: from, what: `signalling for ${to.slice(0, 8)}` });
    const now = Date.now();
    const b = this.buckets.get(from) ?? { tokens: SIG_BURST, at: now };
    b.tokens = Math.min(SIG_BURST, b.tokens + ((now - b.at) / 1000) * SIG_RATE);
    b.at = now;
    this.buckets.set(from, b);
    if (b.tokens < 1) return this.host.log.note('E_RATE_LIMIT', where, { peer: from, what: 'signalling' });
    b.tokens -= 1;
    const out = this.host.linkTo(to);
    // Not linked to it (any more): the caller's attempt times out and it tries another member.
    if (!out?.isOpen) return;
    try {
      out.send('ctl', bytes);
    } catch {
      // closing
    }
  }
}
