// Moves a member link onto WebRTC: the dialer offers over the WebSocket link's 'ctl' channel
// (inside its encrypted session), the data channel runs the same Noise handshake and becomes the
// same kind of PeerLink, and the feeds move to it. If it closes, the WebSocket link takes them back.
import type { KeyObject } from 'node:crypto';
import { pack, unpack } from '../events/codec.js';
import { openPeerLink } from '../transport/peer-link.js';
import type { PeerLink } from '../transport/types.js';
import { openWebRtc, type RtcSignal, type WebRtcSession } from '../transport/webrtc.js';

export interface UpgradeOptions {
  privateKey: KeyObject;
  bindAddress?: string;
  isMember(peerId: string): boolean;
  onLink(link: PeerLink): void;
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
    private readonly ws: PeerLink,
    private readonly role: 'offerer' | 'answerer',
    private readonly opts: UpgradeOptions,
  ) {
    ws.on('message', (ch, bytes) => {
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
    const peer = this.ws.peerId;
    const s = openWebRtc({
      role: this.role,
      bindAddress: this.opts.bindAddress,
      remoteAddress: `webrtc via ${this.ws.remoteAddress}`,
      signal: (sig) => this.ws.isOpen && this.ws.send('ctl', pack({ t: 'rtc', n, s: sig })),
    });
    this.session = s;
    s.transport
      .then((t) =>
        openPeerLink(t, {
          role: this.role === 'offerer' ? 'initiator' : 'responder',
          privateKey: this.opts.privateKey,
          expectPeerId: peer,
          // Only the device at the other end of the WebSocket link, and only while it is a member.
          isAllowed: (_pub, dev) => dev === peer && this.opts.isMember(dev),
        }),
      )
      .then((link) => {
        this.done = true;
        this.opts.onLink(link);
      })
      .catch((e: Error) => {
        this.opts.onError(e);
        if (this.role === 'offerer' && !this.done && this.ws.isOpen && n === this.attempt && n < 5) {
          setTimeout(() => this.ws.isOpen && n === this.attempt && this.open(n + 1), 300 * (n + 1)).unref();
        }
      });
  }
}
