// The Noise XX handshake over the device keys, from noise-handshake with Ed25519 statics
// (noise-curve-ed), as Hypercore's secret-stream does: Noise_XX_Ed25519_ChaChaPoly_BLAKE2b.
// Both static keys travel encrypted; the initiator judges the responder's key before revealing
// its own. Each message rides the transport as a small msgpack map whose wire-protocol version
// is in the clear (an older or newer peer is refused by name, E_PROTOCOL_VERSION) and is bound
// into the Noise prologue, so it cannot be changed in transit.
import type { KeyObject } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import Noise, { type KeyPair } from 'noise-handshake';
import curve from 'noise-curve-ed';
import { SdError } from '../errors.js';
import { deviceIdFromPublicKey } from './identity.js';
import { knownCode, type CloseReason, type LinkMode, type MessageTransport } from './types.js';
import { codeOf } from '../error-codes.js';

/**
 * The link wire protocol: 1 was the cleartext challenge-response, 2 is Noise XX + AEAD records, 3
 * the same with the length of a message of several records declared in its first one, 4 the same
 * with entries that may carry their content id (`entries.upserted` rows of 7 fields, which a
 * device on 3 would refuse as bad events), 5 the same with bulk records (file chunks) sealed with
 * AES-256-GCM under keys derived from the split (transport/bulk.ts), 6 the same with file chunks
 * that carry the BLAKE3 of the file through the chunk instead of the chunk's own (transfer/protocol.ts:
 * one hash pass per side), which a device on 5 would refuse as damaged chunks.
 */
export const LINK_PROTOCOL = 6;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

/** Each handshake's deadline; SD_HANDSHAKE_TIMEOUT_MS lowers it (tests of stalled peers). */
export function handshakeTimeoutMs(): number {
  const v = Number(process.env.SD_HANDSHAKE_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

/** true admits the peer; false or a reason refuses it. */
export type Verdict = boolean | CloseReason;

export interface HandshakeOptions {
  role: 'initiator' | 'responder';
  privateKey: KeyObject;
  /** What the initiator asks for; the responder learns it. */
  mode?: LinkMode;
  /** Initiator: the device it dialed; any other key is refused (E_UNEXPECTED_PEER). */
  expectPeerId?: string;
  /** Initiator: judges the responder's key before revealing its own. */
  checkResponder?(publicKey: Uint8Array, peerId: string): Verdict | Promise<Verdict>;
  timeoutMs?: number;
  /** Tests only: speak another version. */
  protocolVersion?: number;
}

export interface HandshakeResult {
  peerPublicKey: Uint8Array;
  peerId: string;
  mode: LinkMode;
  /** Send and receive keys from the Noise split, and the handshake hash. */
  tx: Uint8Array;
  rx: Uint8Array;
  hash: Uint8Array;
  /** Messages that came right after the handshake, for the record layer. */
  early: Uint8Array[];
}

const staticKeys = new WeakMap<KeyObject, KeyPair>();

/** The sodium-format Ed25519 key pair (seed || public) of a node:crypto private key. */
function staticKeyPair(privateKey: KeyObject): KeyPair {
  let kp = staticKeys.get(privateKey);
  if (!kp) {
    const seed = Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url');
    kp = curve.generateKeyPair(seed);
    staticKeys.set(privateKey, kp);
  }
  return kp;
}

const versionMismatch = (theirs: unknown, ours: number): SdError =>
  new SdError(
    'E_PROTOCOL_VERSION',
    `the peer speaks link protocol ${typeof theirs === 'number' ? theirs : 'unknown'}, this device speaks ${ours}: update the older one`,
  );

/** Runs the three Noise XX messages; rejects with an SdError after closing the transport. */
export async function noiseHandshake(t: MessageTransport, opts: HandshakeOptions): Promise<HandshakeResult> {
  const version = opts.protocolVersion ?? LINK_PROTOCOL;
  const inbox: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let closed: CloseReason | undefined;
  let theyRefused = false;
  t.onMessage((m) => (inbox.push(m), wake?.()));
  t.onClose((r) => ((closed = r), wake?.()));
  const deadline = Date.now() + (opts.timeoutMs ?? handshakeTimeoutMs());
  const next = async (): Promise<Record<string, unknown>> => {
    while (!inbox.length) {
      if (closed)
        throw new SdError(
          closed.code === 'E_LINK_CUT' ? 'E_LINK_CLOSED' : codeOf(closed.code, 'E_LINK_CLOSED'),
          `the peer closed during the handshake: ${closed.message}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new SdError('E_HANDSHAKE_TIMEOUT', 'the peer did not complete the handshake in time');
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        wake = () => (clearTimeout(timer), r());
      });
      wake = undefined;
    }
    let m: unknown;
    try {
      m = unpackr.unpack(inbox.shift()!);
    } catch {
      throw new SdError('E_BAD_HANDSHAKE', 'an undecodable handshake message');
    }
    if (!m || typeof m !== 'object' || Array.isArray(m) || m instanceof Uint8Array)
      throw new SdError('E_BAD_HANDSHAKE', 'a handshake message is not a map');
    const msg = m as Record<string, unknown>;
    if (msg.t === 'refuse') {
      theyRefused = true;
      const code = knownCode(msg.code);
      if (code === 'E_PROTOCOL_VERSION') throw versionMismatch(msg.v, version);
      throw new SdError(codeOf(code, 'E_REFUSED'), `the peer refused the link: ${String(msg.reason).slice(0, 200)}`);
    }
    return msg;
  };
  const bytes = (v: unknown): Uint8Array => {
    if (!(v instanceof Uint8Array)) throw new SdError('E_BAD_HANDSHAKE', 'a handshake message without its Noise bytes');
    return v;
  };
  const noise = new Noise('XX', opts.role === 'initiator', staticKeyPair(opts.privateKey), { curve });
  noise.initialise(Buffer.from(`vdfs-link/${version}`));
  const step = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new SdError('E_BAD_HANDSHAKE', `the Noise handshake failed: ${(e as Error).message}`);
    }
  };
  let mode: LinkMode = opts.mode ?? 'member';
  try {
    if (opts.role === 'initiator') {
      t.send(packr.pack({ t: 'hello', v: version, noise: noise.send() })); // -> e
      const m2 = await next(); // <- e, ee, s, es
      if (m2.t !== 'hello' || m2.v !== version) {
        if (m2.t === 'hello') throw versionMismatch(m2.v, version);
        throw new SdError('E_BAD_HANDSHAKE', 'expected the responder hello');
      }
      step(() => noise.recv(bytes(m2.noise)));
      const rs = new Uint8Array(noise.rs!);
      const peerId = await deviceIdFromPublicKey(rs);
      if (opts.expectPeerId && opts.expectPeerId !== peerId)
        throw new SdError(
          'E_UNEXPECTED_PEER',
          `expected device ${opts.expectPeerId.slice(0, 8)}, reached ${peerId.slice(0, 8)}`,
        );
      const verdict = opts.checkResponder ? await opts.checkResponder(rs, peerId) : true;
      if (verdict !== true)
        throw verdict === false
          ? new SdError('E_PEER_NOT_ALLOWED', `device ${peerId.slice(0, 8)} is not on the roster (or was revoked)`)
          : new SdError(codeOf(verdict.code, 'E_REFUSED'), verdict.message);
      t.send(packr.pack({ t: 'auth', noise: noise.send(packr.pack({ mode })) })); // -> s, se
    } else {
      const m1 = await next();
      if (m1.t !== 'hello') throw new SdError('E_BAD_HANDSHAKE', 'expected a hello');
      if (m1.v !== version) throw versionMismatch(m1.v, version);
      step(() => noise.recv(bytes(m1.noise)));
      t.send(packr.pack({ t: 'hello', v: version, noise: noise.send() }));
      const m3 = await next();
      if (m3.t !== 'auth') throw new SdError('E_BAD_HANDSHAKE', 'expected the initiator proof');
      const payload = step(() => noise.recv(bytes(m3.noise)));
      const asked = step(() => unpackr.unpack(payload) as { mode?: unknown } | undefined);
      mode = asked?.mode === 'pair' ? 'pair' : 'member';
    }
    if (!noise.complete || !noise.rs || !noise.tx || !noise.rx || !noise.hash)
      throw new SdError('E_BAD_HANDSHAKE', 'the Noise handshake did not complete');
    const peerPublicKey = new Uint8Array(noise.rs);
    return {
      peerPublicKey,
      peerId: await deviceIdFromPublicKey(peerPublicKey),
      mode,
      tx: new Uint8Array(noise.tx),
      rx: new Uint8Array(noise.rx),
      hash: new Uint8Array(noise.hash),
      early: inbox.splice(0),
    };
  } catch (e) {
    const err = e instanceof SdError ? e : new SdError('E_BAD_HANDSHAKE', (e as Error).message);
    // The peer learns why (in the clear: no session exists yet), unless it is the one who refused.
    if (!t.closed && !closed) {
      const reason = { code: err.code, message: err.message };
      try {
        if (!theyRefused && err.code !== 'E_HANDSHAKE_TIMEOUT') {
          t.send(packr.pack({ t: 'refuse', code: err.code, reason: err.message, v: version }));
          // The peer closes once it has read why; a peer that does not is cut shortly.
          const timer = setTimeout(() => t.close(reason), 500);
          timer.unref();
          t.onClose(() => clearTimeout(timer));
          t.onMessage(() => undefined);
        } else t.close(reason);
      } catch {
        t.close(reason);
      }
    }
    throw err;
  }
}
