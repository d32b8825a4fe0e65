// The single entry: a transport in, an authenticated PeerLink out (or a refusal).
import type { KeyObject } from 'node:crypto';
import { authenticate } from './handshake.js';
import { rawPublicKeyOf } from './identity.js';
import { MuxLink, type MuxOptions } from './mux.js';
import { ReliableStream, type ReliableOptions } from './reliable.js';
import type { MessageTransport, PeerLink } from './types.js';

export interface OpenPeerLinkOptions extends MuxOptions {
  privateKey: KeyObject;
  /** Raw 32-byte public key; derived from privateKey when omitted. */
  publicKey?: Uint8Array;
  /** Roster membership and revocation: false refuses the peer (E_PEER_NOT_ALLOWED). */
  isAllowed(publicKey: Uint8Array, peerId: string): boolean | Promise<boolean>;
  /** When dialing a known device: any other key is refused (E_UNEXPECTED_PEER). */
  expectPeerId?: string;
  handshakeTimeoutMs?: number;
  reliable?: ReliableOptions;
}

/**
 * Runs the mutual Ed25519 handshake over `transport` and returns the link; rejects with an
 * SdError (E_PEER_NOT_ALLOWED, E_BAD_HANDSHAKE, E_UNEXPECTED_PEER, E_HANDSHAKE_TIMEOUT...)
 * after closing the transport, before any application data is delivered.
 */
export async function openPeerLink(transport: MessageTransport, opts: OpenPeerLinkOptions): Promise<PeerLink> {
  const stream = new ReliableStream(transport, opts.reliable);
  const peer = await authenticate(stream, {
    privateKey: opts.privateKey,
    publicKey: opts.publicKey ?? rawPublicKeyOf(opts.privateKey),
    isAllowed: opts.isAllowed,
    expectPeerId: opts.expectPeerId,
    timeoutMs: opts.handshakeTimeoutMs,
  });
  return new MuxLink(stream, peer.peerId, peer.peerPublicKey, opts);
}
