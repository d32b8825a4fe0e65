// Moves a member link onto WebRTC: the dialer offers over the WebSocket link's 'ctl' channel,
// both sides run the Ed25519 handshake again over the data channel, and the feeds move to the
// new link. If the WebRTC link closes, the WebSocket link takes the feeds back.
import type { KeyObject } from 'node:crypto';
import { pack, unpack } from '../events/codec.js';
import type { PeerLink as WsLink } from '../transport/link.js';
import { openPeerLink } from '../transport/peer-link.js';
import type { PeerLink as MuxLink } from '../transport/types.js';
import { openWebRtc, type RtcSignal, type WebRtcSession } from '../transport/webrtc.js';

/** The subset of a link the PeerManager uses, so a WebRTC link can stand in for a WebSocket one. */
export type AnyLink = Pick<WsLink, 'info' | 'openedAt' | 'isOpen' | 'peerId' | 'send' | 'on' | 'once' | 'close'>;

export function asAnyLink(mux: MuxLink, via: WsLink): AnyLink {
  const info = { ...via.info, kind: 'webrtc' as const, mode: 'member' as const, restricted: false };
  const openedAt = Date.now();
  return {
    info,
    openedAt,
    get isOpen() {
      return mux.isOpen;
    },
    get peerId() {
      return mux.peerId;
    },
    send: (channel: string, data: Uint8Array) => void mux.send(channel, data),
    on: ((event: 'message' | 'close', fn: (...a: never[]) => void) => (
      mux.on(event as 'message', fn as never),
      undefined
    )) as never,
    once: ((event: 'message' | 'close', fn: (...a: never[]) => void) => (
      mux.once(event as 'message', fn as never),
      undefined
    )) as never,
    close: (reason: string) => mux.close(reason),
  } as AnyLink;
}

export interface UpgradeOptions {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  bindAddress?: string;
  isMember(peerId: string): boolean;
  onLink(link: AnyLink): void;
  onError(err: Error): void;
}

/**
 * Runs on both ends of a WebSocket link; the dialer (offerer) starts. A failed attempt (ICE can
 * fail, e.g. under load) is retried with a fresh session, numbered so that both ends agree.
 */
export class WebRtcUpgrade {
  private session: WebRtcSession | undefined;
  private attempt = 0;
  private done = false;

  constructor(
    private readonly ws: WsLink,
    private readonly role: 'offerer' | 'answerer',
    private readonly opts: UpgradeOptions,
  ) {
    ws.on('message', (ch: string, bytes: Uint8Array) => {
      if (ch !== 'ctl') return;
      try {
        const m = unpack(bytes) as { t?: string; n?: number; s?: RtcSignal };
        if (m.t !== 'rtc' || !m.s || typeof m.n !== 'number') return;
        if (m.n < this.attempt) return; // a signal of an abandoned attempt
        if (m.n > this.attempt || !this.session) this.open(m.n);
        this.session!.receive(m.s);
      } catch (e) {
        opts.onError(e as Error);
      }
    });
    ws.once('close', () => this.session?.close());
    if (role === 'offerer') this.open(0);
  }

  private open(n: number): void {
    this.session?.close();
    this.attempt = n;
    const s = openWebRtc({
      role: this.role,
      bindAddress: this.opts.bindAddress,
      signal: (sig) => this.ws.isOpen && this.ws.send('ctl', pack({ t: 'rtc', n, s: sig })),
    });
    this.session = s;
    s.transport
      .then((t) =>
        openPeerLink(t, {
          privateKey: this.opts.privateKey,
          publicKey: this.opts.publicKey,
          isAllowed: (_pub, peer) => this.opts.isMember(peer),
          expectPeerId: this.ws.peerId,
        }),
      )
      .then((mux) => {
        this.done = true;
        this.opts.onLink(asAnyLink(mux, this.ws));
      })
      .catch((e: Error) => {
        this.opts.onError(e);
        if (this.role === 'offerer' && !this.done && this.ws.isOpen && n === this.attempt && n < 5) {
          setTimeout(() => this.ws.isOpen && n === this.attempt && this.open(n + 1), 300 * (n + 1)).unref();
        }
      });
  }
}
