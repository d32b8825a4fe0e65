// Mutual Ed25519 challenge-response before any data: each side proves it holds the private
// key of the public key it presents, over the other side's fresh nonce and both keys, and
// the acceptor's `isAllowed` (roster membership, revocation) decides before a link exists.
import { randomBytes, type KeyObject } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import type WebSocket from 'ws';
import { SdError } from '../errors.js';
import { deviceIdOf, publicKeyFromRaw, signBytes, verifyBytes } from '../events/keys.js';
import { PeerLink } from './link.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const DOMAIN = Buffer.from('vdfs-link-v1');
const TIMEOUT_MS = 10_000;

export interface HandshakeOptions {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  /** 'member' for a roster link, 'pair' for a pairing attempt. */
  mode: 'member' | 'pair';
  /** Decides whether the remote device may link (and in which mode); false refuses it. */
  isAllowed(peerId: string, publicKey: Uint8Array, mode: 'member' | 'pair'): boolean;
  /** The device we expect to reach (when dialing); another key is refused. */
  expect?: string;
  heartbeatMs?: number;
  remoteAddress: string;
}

function next(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new SdError('E_HANDSHAKE_TIMEOUT', 'the peer did not complete the handshake in time')), TIMEOUT_MS);
    const fail = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onMsg = (data: Buffer): void => {
      cleanup();
      try {
        const m = unpackr.unpack(data) as Record<string, unknown>;
        if (m && typeof m === 'object' && m.t === 'refuse') return reject(new SdError(String(m.code), String(m.reason)));
        resolve(m);
      } catch {
        reject(new SdError('E_BAD_HANDSHAKE', 'undecodable handshake message'));
      }
    };
    const onClose = (_c: number, reason: Buffer): void => fail(new SdError('E_LINK_CLOSED', `the peer closed during the handshake${reason.length ? `: ${reason.toString()}` : ''}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      ws.off('message', onMsg);
      ws.off('close', onClose);
    };
    ws.once('message', onMsg);
    ws.once('close', onClose);
  });
}

export async function handshake(ws: WebSocket, opts: HandshakeOptions): Promise<PeerLink> {
  const nonce = randomBytes(32);
  ws.send(packr.pack({ t: 'hello', v: 1, pub: opts.publicKey, nonce, mode: opts.mode }));
  const hello = await next(ws);
  const pub = hello.pub;
  const theirNonce = hello.nonce;
  const mode = hello.mode === 'pair' ? 'pair' : 'member';
  if (hello.t !== 'hello' || !(pub instanceof Uint8Array) || pub.length !== 32 || !(theirNonce instanceof Uint8Array) || theirNonce.length !== 32) {
    ws.close(4001, 'E_BAD_HANDSHAKE');
    throw new SdError('E_BAD_HANDSHAKE', 'malformed hello');
  }
  const peerId = deviceIdOf(pub);
  // I sign the peer's nonce, so a recorded signature cannot be replayed to another session.
  const transcript = (their: Uint8Array, signer: Uint8Array, other: Uint8Array): Uint8Array => Buffer.concat([DOMAIN, their, signer, other]);
  ws.send(packr.pack({ t: 'proof', sig: signBytes(opts.privateKey, transcript(theirNonce, opts.publicKey, pub)) }));
  const proof = await next(ws);
  if (proof.t !== 'proof' || !(proof.sig instanceof Uint8Array) || !verifyBytes(publicKeyFromRaw(pub), transcript(nonce, pub, opts.publicKey), proof.sig)) {
    ws.send(packr.pack({ t: 'refuse', code: 'E_BAD_HANDSHAKE', reason: 'the signature does not prove the key' }));
    ws.close(4001, 'E_BAD_HANDSHAKE');
    throw new SdError('E_BAD_HANDSHAKE', `the peer ${peerId.slice(0, 8)} did not prove its key`);
  }
  if (opts.expect && opts.expect !== peerId) {
    ws.close(4003, 'E_UNEXPECTED_PEER');
    throw new SdError('E_UNEXPECTED_PEER', `expected device ${opts.expect.slice(0, 8)}, reached ${peerId.slice(0, 8)}`);
  }
  const effective = opts.mode === 'pair' ? 'pair' : mode;
  if (!opts.isAllowed(peerId, pub, effective)) {
    ws.send(packr.pack({ t: 'refuse', code: 'E_PEER_NOT_ALLOWED', reason: 'this device is not on the roster (or was revoked)' }));
    ws.close(4003, 'E_PEER_NOT_ALLOWED');
    throw new SdError('E_PEER_NOT_ALLOWED', `device ${peerId.slice(0, 8)} is not allowed to link`);
  }
  ws.send(packr.pack({ t: 'ok' }));
  const ok = await next(ws);
  if (ok.t !== 'ok') throw new SdError('E_BAD_HANDSHAKE', 'the peer did not confirm the link');
  return new PeerLink(ws, { peerId, peerPublicKey: new Uint8Array(pub), kind: 'lan-ws', mode: effective, remoteAddress: opts.remoteAddress }, opts.heartbeatMs);
}
