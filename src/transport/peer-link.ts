// The single entry of the link stack: a message transport in (WebSocket, WebRTC data channel or
// memory), an authenticated, encrypted, multiplexed PeerLink out, or a refusal.
import type { KeyObject } from 'node:crypto';
import { SdError } from '../errors.js';
import { handshakeTimeoutMs, noiseHandshake, type Verdict } from './handshake.js';
import { MUX_OVERHEAD, MuxLink, type MuxOptions } from './mux.js';
import { MAX_MESSAGE_BYTES, SecureChannel, type SecureOptions } from './secure.js';
import type { LinkMode, MessageTransport, PeerLink } from './types.js';
import { codeOf } from '../error-codes.js';

export interface OpenPeerLinkOptions extends MuxOptions, Omit<SecureOptions, 'maxMessageBytes'> {
  /** The side that dialed (or offered) initiates; the other responds. */
  role: 'initiator' | 'responder';
  privateKey: KeyObject;
  /** Initiator: 'pair' to run the pairing protocol with a device whose roster we are not on. */
  mode?: LinkMode;
  /** Initiator: the device it dialed; another key is refused (E_UNEXPECTED_PEER). */
  expectPeerId?: string;
  /** Roster membership and revocation, asked on both sides before any data; false or a reason refuses. */
  isAllowed(publicKey: Uint8Array, peerId: string, mode: LinkMode): Verdict | Promise<Verdict>;
  handshakeTimeoutMs?: number;
  /** Tests only: speak another wire-protocol version. */
  protocolVersion?: number;
}

/**
 * Runs the Noise XX handshake, then the responder's verdict inside the encrypted session; rejects
 * with an SdError (E_PEER_NOT_ALLOWED, E_BAD_HANDSHAKE, E_UNEXPECTED_PEER, E_PROTOCOL_VERSION,
 * E_HANDSHAKE_TIMEOUT...) after closing the transport, before any application data. Listen on the
 * returned link in the same turn: messages are delivered from the next one on.
 */
export async function openPeerLink(t: MessageTransport, opts: OpenPeerLinkOptions): Promise<PeerLink> {
  const timeoutMs = opts.handshakeTimeoutMs ?? handshakeTimeoutMs();
  const started = Date.now();
  const mode = opts.mode ?? 'member';
  const hs = await noiseHandshake(t, {
    role: opts.role,
    privateKey: opts.privateKey,
    mode,
    expectPeerId: opts.expectPeerId,
    checkResponder: (pub, peerId) => opts.isAllowed(pub, peerId, mode),
    timeoutMs,
    protocolVersion: opts.protocolVersion,
  });
  const secure = new SecureChannel(t, hs, {
    ...opts,
    maxMessageBytes: (opts.maxMessageBytes ?? MAX_MESSAGE_BYTES) + MUX_OVERHEAD,
  });
  const link = new MuxLink(
    secure,
    {
      peerId: hs.peerId,
      peerPublicKey: hs.peerPublicKey,
      remoteAddress: t.remoteAddress,
      mode: hs.mode,
      handshakeHash: hs.hash,
    },
    hs.early,
    opts,
  );
  if (opts.role === 'responder') {
    let verdict: Verdict;
    try {
      verdict = await opts.isAllowed(hs.peerPublicKey, hs.peerId, hs.mode);
    } catch (e) {
      verdict = { code: 'E_INTERNAL', message: `the roster check failed: ${(e as Error).message}` };
    }
    if (verdict !== true) {
      const r =
        verdict === false
          ? {
              code: 'E_PEER_NOT_ALLOWED',
              message: `device ${hs.peerId.slice(0, 8)} is not on the roster (or was revoked)`,
            }
          : verdict;
      link.close(r.code, r.message);
      throw new SdError(codeOf(r.code, 'E_LINK_CLOSED'), r.message);
    }
    if (!link.isOpen) throw new SdError('E_LINK_CLOSED', 'the peer closed right after the handshake');
    link.accept();
  } else {
    await link.whenAccepted(Math.max(1, timeoutMs - (Date.now() - started))).catch((e: SdError) => {
      link.close(e.code, e.message);
      throw e;
    });
  }
  setImmediate(() => link.start());
  return link;
}
