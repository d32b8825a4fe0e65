// The pairing protocol, inside the encrypted session of a 'pair' link: the joiner names the
// invite and proves the secret (bound to both keys and to this session); the inviter adds it to
// the roster and answers with its own proof and the roster it knows.
import type { NetHost } from './host.js';
import { SdError } from '../errors.js';
import { pack, unpack } from '../events/codec.js';
import { connectWs } from '../transport/ws.js';
import { openPeerLink } from '../transport/peer-link.js';
import { knownCode, type PeerLink } from '../transport/types.js';
import { decodeCode, inviteId, proof, sameBytes, type InviteBook, type InviteCode } from './pairing.js';
import type { RefusalLog } from './refusals.js';
import { codeOf } from '../error-codes.js';

const PAIR_TIMEOUT_MS = 10_000;

export interface PairingHost {
  core: NetHost;
  invites: InviteBook;
  refusals: RefusalLog;
  isMember(dev: string): boolean;
  /** The joiner is on the roster now: the link becomes a member link. */
  onPaired(link: PeerLink): void;
}

/** Inviter side: answers the one pairing request a restricted link may make. */
export function servePairing(host: PairingHost, link: PeerLink, address: string): void {
  const { core } = host;
  const timer = setTimeout(() => link.close('E_PAIR_TIMEOUT', 'no pairing request came'), PAIR_TIMEOUT_MS);
  timer.unref();
  link.once('close', () => clearTimeout(timer));
  link.once('message', (_ch, bytes) => {
    clearTimeout(timer);
    try {
      const m = unpack(bytes) as { t?: unknown; invite?: unknown; proof?: unknown; name?: unknown } | undefined;
      if (m?.t !== 'join' || !(m.proof instanceof Uint8Array))
        throw new SdError('E_BAD_FRAME', 'not a pairing request');
      const claimed = m.proof;
      if (host.isMember(link.peerId))
        throw new SdError(
          'E_ALREADY_PAIRED',
          'this device is already a member; it syncs by itself when both daemons run',
        );
      const inv = host.invites.redeem(address, m.invite, (secret) =>
        sameBytes(proof(secret, 'joiner', link.peerPublicKey, core.device.publicKey, link.handshakeHash), claimed),
      );
      const lib = core.libraries.resolve(inv.lib);
      const name = typeof m.name === 'string' && m.name.length <= 200 ? m.name : 'device';
      lib.write(() => lib.append('device.added', { dev: link.peerId, pubkey: link.peerPublicKey, name }));
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
          inviterName: core.device.name,
          roster,
          proof: proof(inv.secret, 'inviter', core.device.publicKey, link.peerPublicKey, link.handshakeHash),
        }),
      );
      core.log?.info({ peer: link.peerId, lib: lib.id }, 'paired a device');
      host.onPaired(link);
    } catch (e) {
      const code = e instanceof SdError ? e.code : 'E_BAD_FRAME';
      host.refusals.note(code, address, { peer: link.peerId, step: 'pairing' });
      try {
        link.send('pair', pack({ t: 'refuse', code, reason: (e as Error).message }));
      } catch {
        // gone already
      }
      setTimeout(() => link.close(code, (e as Error).message), 200).unref();
    }
  });
}

export interface Welcome {
  lib: string;
  libName: string;
  inviterName: string;
  roster: [string, Uint8Array][];
}

/** Joiner side: dials the inviter in pairing mode and runs the protocol; the link stays open. */
export async function joinWithCode(
  core: NetHost,
  code: string,
): Promise<{ link: PeerLink; welcome: Welcome; invite: InviteCode }> {
  const c = decodeCode(code);
  const t = await connectWs(c.host, c.port);
  const link = await openPeerLink(t, {
    role: 'initiator',
    mode: 'pair',
    privateKey: core.device.privateKey,
    expectPeerId: c.inviter,
    isAllowed: () => true,
  });
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SdError('E_PAIR_TIMEOUT', 'the inviter did not answer')),
      PAIR_TIMEOUT_MS,
    );
    link.once('message', (_ch, b) => {
      clearTimeout(timer);
      try {
        const m = unpack(b) as unknown;
        if (!m || typeof m !== 'object') throw new Error('not a map');
        resolve(m as Record<string, unknown>);
      } catch {
        reject(new SdError('E_PAIR_PROOF', 'the inviter sent an undecodable answer'));
      }
    });
    link.once('close', (r) => {
      clearTimeout(timer);
      reject(new SdError('E_PAIR_REFUSED', `the inviter closed the link: ${r.code}: ${r.message}`));
    });
    link.send(
      'pair',
      pack({
        t: 'join',
        invite: inviteId(c.secret),
        proof: proof(c.secret, 'joiner', core.device.publicKey, link.peerPublicKey, link.handshakeHash),
        name: core.device.name,
      }),
    );
  }).catch((e: SdError) => {
    link.close(e.code, e.message);
    throw e;
  });
  if (reply.t === 'refuse') {
    link.close('E_PAIR_REFUSED', 'refused');
    throw new SdError(
      codeOf(knownCode(reply.code), 'E_PAIR_REFUSED'),
      String(reply.reason ?? 'the inviter refused the code').slice(0, 200),
    );
  }
  if (
    reply.t !== 'welcome' ||
    typeof reply.lib !== 'string' ||
    !(reply.proof instanceof Uint8Array) ||
    !sameBytes(reply.proof, proof(c.secret, 'inviter', link.peerPublicKey, core.device.publicKey, link.handshakeHash))
  ) {
    link.close('E_PAIR_PROOF', 'the inviter could not prove it made the code');
    throw new SdError('E_PAIR_PROOF', 'the inviter could not prove it made this code; nothing was joined');
  }
  const roster = (Array.isArray(reply.roster) ? reply.roster : []).filter(
    (r): r is [string, Uint8Array] =>
      Array.isArray(r) && typeof r[0] === 'string' && r[1] instanceof Uint8Array && r[1].length === 32,
  );
  return {
    link,
    invite: c,
    welcome: {
      lib: reply.lib,
      libName: typeof reply.libName === 'string' ? reply.libName : '',
      inviterName: typeof reply.inviterName === 'string' ? reply.inviterName : '',
      roster,
    },
  };
}
