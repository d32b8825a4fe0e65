// Mutual Ed25519 challenge-response before any data: each side proves it holds the private
// key of the public key it presents, over the other side's fresh nonce and both keys, and
// the acceptor's `isAllowed` (roster membership, revocation) decides before a link exists.
import { randomBytes, type KeyObject } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import type WebSocket from 'ws';
import { SdError } from '../errors.js';
import { deviceIdOf, publicKeyFromRaw, signBytes, verifyBytes } from '../events/keys.js';
import { PeerLink } from './link.js';
import { handshakeTimeoutMs, takeEarly } from './ws.js';
import { deviceIdFromPublicKey } from './identity.js';
import type { ReliableStream } from './reliable.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const DOMAIN = Buffer.from('vdfs-link-v1');

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

/** Reads handshake messages in order: several can arrive in one chunk, before anyone awaits them. */
class Reader {
  private readonly queue: Buffer[] = [];
  private waiting: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void } | undefined;
  private closed: Error | undefined;
  /** Why the socket failed, if it did (kept even when a close follows). */
  failure: SdError | undefined;
  private readonly onMsg = (data: Buffer): void => {
    this.queue.push(data);
    this.pump();
  };
  private readonly onClose = (_c: number, reason: Buffer): void => {
    this.closed = new SdError(
      'E_LINK_CLOSED',
      `the peer closed during the handshake${reason.length ? `: ${reason.toString()}` : ''}`,
    );
    this.pump();
  };

  private readonly onError = (e: Error & { code?: string }): void => {
    this.failure ??=
      e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? new SdError('E_FRAME_TOO_LARGE', 'the peer sent a frame over the limit during the handshake')
        : new SdError('E_BAD_HANDSHAKE', `transport error during the handshake: ${e.message}`);
    this.closed = this.failure;
    this.pump();
  };

  constructor(private readonly ws: WebSocket) {
    this.queue.push(...takeEarly(ws));
    ws.on('message', this.onMsg);
    ws.on('close', this.onClose);
    ws.on('error', this.onError);
  }

  next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new SdError('E_HANDSHAKE_TIMEOUT', 'the peer did not complete the handshake in time'));
      }, handshakeTimeoutMs());
      this.waiting = {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.pump();
    });
  }

  private pump(): void {
    const w = this.waiting;
    if (!w) return;
    const data = this.queue.shift();
    if (!data) {
      if (this.closed) {
        this.waiting = undefined;
        w.reject(this.closed);
      }
      return;
    }
    this.waiting = undefined;
    try {
      const m = unpackr.unpack(data) as Record<string, unknown>;
      if (!m || typeof m !== 'object' || Array.isArray(m))
        return w.reject(new SdError('E_BAD_HANDSHAKE', 'a handshake message is not a map'));
      // The peer names the code of its refusal: only a well-formed one is kept (it is counted).
      if (m.t === 'refuse')
        return w.reject(
          new SdError(
            typeof m.code === 'string' && /^E_[A-Z_]{1,40}$/.test(m.code) ? m.code : 'E_REFUSED',
            String(m.reason).slice(0, 200),
          ),
        );
      w.resolve(m);
    } catch {
      w.reject(new SdError('E_BAD_HANDSHAKE', 'undecodable handshake message'));
    }
  }

  /** Stops reading; frames that arrived early are handed to the link. */
  detach(): Buffer[] {
    this.ws.off('message', this.onMsg);
    this.ws.off('close', this.onClose);
    this.ws.off('error', this.onError);
    return this.queue.splice(0);
  }
}

export async function handshake(ws: WebSocket, opts: HandshakeOptions): Promise<PeerLink> {
  const reader = new Reader(ws);
  try {
    return await run(ws, reader, opts);
  } catch (e) {
    reader.detach();
    throw e;
  }
}

async function run(ws: WebSocket, reader: Reader, opts: HandshakeOptions): Promise<PeerLink> {
  const next = (_ws: WebSocket): Promise<Record<string, unknown>> => reader.next();
  const nonce = randomBytes(32);
  ws.send(packr.pack({ t: 'hello', v: 1, pub: opts.publicKey, nonce, mode: opts.mode }));
  const hello = await next(ws);
  const pub = hello.pub;
  const theirNonce = hello.nonce;
  const mode = hello.mode === 'pair' ? 'pair' : 'member';
  if (
    hello.t !== 'hello' ||
    !(pub instanceof Uint8Array) ||
    pub.length !== 32 ||
    !(theirNonce instanceof Uint8Array) ||
    theirNonce.length !== 32
  ) {
    ws.close(4001, 'E_BAD_HANDSHAKE');
    throw new SdError('E_BAD_HANDSHAKE', 'malformed hello');
  }
  const peerId = deviceIdOf(pub);
  // I sign the peer's nonce, so a recorded signature cannot be replayed to another session.
  const transcript = (their: Uint8Array, signer: Uint8Array, other: Uint8Array): Uint8Array =>
    Buffer.concat([DOMAIN, their, signer, other]);
  ws.send(packr.pack({ t: 'proof', sig: signBytes(opts.privateKey, transcript(theirNonce, opts.publicKey, pub)) }));
  const proof = await next(ws);
  if (
    proof.t !== 'proof' ||
    !(proof.sig instanceof Uint8Array) ||
    !verifyBytes(publicKeyFromRaw(pub), transcript(nonce, pub, opts.publicKey), proof.sig)
  ) {
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
    ws.send(
      packr.pack({
        t: 'refuse',
        code: 'E_PEER_NOT_ALLOWED',
        reason: 'this device is not on the roster (or was revoked)',
      }),
    );
    ws.close(4003, 'E_PEER_NOT_ALLOWED');
    throw new SdError('E_PEER_NOT_ALLOWED', `device ${peerId.slice(0, 8)} is not allowed to link`);
  }
  ws.send(packr.pack({ t: 'ok' }));
  const ok = await next(ws);
  if (ok.t !== 'ok') throw new SdError('E_BAD_HANDSHAKE', 'the peer did not confirm the link');
  // What followed the peer's 'ok' in the same read may already have closed the socket (an
  // oversized frame): no link on a dead socket.
  if (ws.readyState !== ws.OPEN)
    throw reader.failure ?? new SdError('E_LINK_CLOSED', 'the peer closed right after the handshake');
  const early = reader.detach();
  const link = new PeerLink(
    ws,
    {
      peerId,
      peerPublicKey: new Uint8Array(pub),
      kind: 'lan-ws',
      mode: effective,
      restricted: opts.mode === 'member' && effective === 'pair',
      remoteAddress: opts.remoteAddress,
    },
    opts.heartbeatMs,
  );
  // Frames the peer sent right after its 'ok' are delivered once the caller has attached.
  if (early.length) setImmediate(() => early.forEach((f) => ws.emit('message', f, true)));
  return link;
}

// ---- The same challenge-response over any MessageTransport (WebSocket or WebRTC), riding
// the reliable stream so that a lossy transport cannot stall or forge it.

export interface AuthOptions {
  privateKey: KeyObject;
  /** Raw 32-byte public key matching privateKey. */
  publicKey: Uint8Array;
  /** Roster membership and revocation; false refuses the peer with E_PEER_NOT_ALLOWED. */
  isAllowed(publicKey: Uint8Array, peerId: string): boolean | Promise<boolean>;
  /** When dialing a known device: any other key is refused. */
  expectPeerId?: string;
  timeoutMs?: number;
}

/** Signed by each side: the verifier's fresh nonce makes a recorded proof useless elsewhere. */
export function linkTranscript(
  kind: string,
  verifierNonce: Uint8Array,
  signerNonce: Uint8Array,
  signerPub: Uint8Array,
  verifierPub: Uint8Array,
): Uint8Array {
  return Buffer.concat([
    DOMAIN,
    Buffer.from([kind.length]),
    Buffer.from(kind),
    verifierNonce,
    signerNonce,
    signerPub,
    verifierPub,
  ]);
}

/** Runs the mutual handshake on a fresh reliable stream; resolves with the proven peer. */
export async function authenticate(
  stream: ReliableStream,
  opts: AuthOptions,
): Promise<{ peerId: string; peerPublicKey: Uint8Array }> {
  const inbox: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let closed: string | undefined;
  stream.onMessage((m) => (inbox.push(m), wake?.()));
  stream.onClose((r) => ((closed = r), wake?.()));
  const timeoutMs = opts.timeoutMs ?? handshakeTimeoutMs();
  const deadline = Date.now() + timeoutMs;
  const next = async (): Promise<Record<string, unknown>> => {
    while (!inbox.length) {
      if (closed !== undefined)
        throw new SdError(
          closed.match(/^E_[A-Z_]+/)?.[0] ?? 'E_LINK_CLOSED',
          `the peer closed during the handshake: ${closed}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new SdError('E_HANDSHAKE_TIMEOUT', 'the peer did not complete the handshake in time');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        wake = () => (clearTimeout(t), r());
      });
      wake = undefined;
    }
    let m: Record<string, unknown>;
    try {
      m = unpackr.unpack(inbox.shift()!) as Record<string, unknown>;
    } catch {
      throw new SdError('E_BAD_HANDSHAKE', 'undecodable handshake message');
    }
    if (m?.t === 'refuse') throw new SdError(String(m.code), `the peer refused the link: ${String(m.reason)}`);
    return m;
  };
  const refuse = async (code: string, reason: string): Promise<never> => {
    if (!stream.closed) {
      stream.send(packr.pack({ t: 'refuse', code, reason }));
      await stream.flush(1000); // the peer should learn why before the transport drops
      stream.close(code);
    }
    throw new SdError(code, reason);
  };
  try {
    const nonce = randomBytes(32);
    stream.send(packr.pack({ t: 'hello', v: 1, pub: opts.publicKey, nonce }));
    const hello = await next();
    const pub = hello.pub;
    const theirNonce = hello.nonce;
    if (
      hello.t !== 'hello' ||
      !(pub instanceof Uint8Array) ||
      pub.length !== 32 ||
      !(theirNonce instanceof Uint8Array) ||
      theirNonce.length !== 32
    ) {
      return await refuse('E_BAD_HANDSHAKE', 'malformed hello');
    }
    const peerId = await deviceIdFromPublicKey(pub);
    const kind = stream.transport.kind;
    stream.send(
      packr.pack({
        t: 'proof',
        sig: signBytes(opts.privateKey, linkTranscript(kind, theirNonce, nonce, opts.publicKey, pub)),
      }),
    );
    const proof = await next();
    if (
      proof.t !== 'proof' ||
      !(proof.sig instanceof Uint8Array) ||
      !verifyBytes(publicKeyFromRaw(pub), linkTranscript(kind, nonce, theirNonce, pub, opts.publicKey), proof.sig)
    ) {
      return await refuse('E_BAD_HANDSHAKE', `device ${peerId.slice(0, 8)} did not prove it holds its key`);
    }
    if (opts.expectPeerId && opts.expectPeerId !== peerId)
      return await refuse(
        'E_UNEXPECTED_PEER',
        `expected device ${opts.expectPeerId.slice(0, 8)}, reached ${peerId.slice(0, 8)}`,
      );
    if (!(await opts.isAllowed(new Uint8Array(pub), peerId)))
      return await refuse('E_PEER_NOT_ALLOWED', `device ${peerId.slice(0, 8)} is not on the roster (or was revoked)`);
    stream.send(packr.pack({ t: 'ok' }));
    const ok = await next();
    if (ok.t !== 'ok') return await refuse('E_BAD_HANDSHAKE', 'the peer did not confirm the link');
    return { peerId, peerPublicKey: new Uint8Array(pub) };
  } catch (e) {
    if (!stream.closed) stream.close(e instanceof SdError ? e.code : 'E_BAD_HANDSHAKE');
    throw e;
  } finally {
    // Whatever the peer sent after its 'ok' waits for the multiplexer.
    stream.onMessage(undefined);
    stream.requeue(inbox.splice(0));
  }
}
