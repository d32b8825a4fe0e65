// The real effects of NetworkService and its peer actors: sockets, Noise handshakes, the WebRTC
// upgrade, discovery. The machines name them; the daemon supplies them here, tests supply doubles.
import type { KeyObject } from 'node:crypto';
import { fromCallback, fromPromise, sendParent } from 'xstate';
import { SdError } from '../../errors.js';
import type { Verdict } from '../../transport/handshake.js';
import { openPeerLink } from '../../transport/peer-link.js';
import { StrangerGate, type StrangerLimits, type Ticket } from '../../transport/gate.js';
import { connectWs, listenWs, type WsListener } from '../../transport/ws.js';
import { mdnsEnabled, startDiscovery } from '../../transport/mdns.js';
import type { CloseReason, LinkMode, MessageTransport, PeerLink } from '../../transport/types.js';
import { WebRtcUpgrade } from '../../sync/webrtc-upgrade.js';
import { openWebRtc, type RtcIceServer, type RtcSignal } from '../../transport/webrtc.js';
import { settledPath } from '../../transport/types.js';
import type { RefusalLog } from '../../sync/refusals.js';
import { networkMachine, type NetworkEvent } from './service.js';
import { dialFirst } from './dial.js';
import { peerMachine, type PeerAddr, type PeerContext, type PeerEvent, type RvInput, type RvPurpose } from './peer.js';

export interface NetworkDeps {
  self: { id: string; privateKey: KeyObject };
  log: RefusalLog;
  strangerLimits?: StrangerLimits;
  isMember(dev: string): boolean;
  /** Who may link, for a connection from (or to) `address`. */
  verdict(address: string): (pub: Uint8Array, dev: string, mode: LinkMode) => Verdict;
  /** The address a WebRTC data channel binds (undefined: any). */
  bindAddress(): string | undefined;
  webrtc(): boolean;
  paused(): boolean;
  onListener(l: WsListener): void;
  /** A stranger came to pair: the pairing protocol runs; a paired link comes back as INBOUND. */
  pair(link: PeerLink, ticket: Ticket, inbound: (link: PeerLink) => void): void;
  /** Every member link, once up: addresses are exchanged on it. */
  onLink(link: PeerLink): void;
  /** The STUN and TURN servers a rendezvous uses (a probe for a direct path: STUN only). */
  iceServers(purpose: RvPurpose): RtcIceServer[];
  /** Seals signalling for device `dev` and sends it to member `via`, which forwards it; throws when `via` is not linked. */
  signal(dev: string, via: string, body: { sid: string; purpose: RvPurpose; s: RtcSignal }): void;
  /** A WebRTC link that came up beside a member's WebSocket link (file transfers listen there too). */
  onRtcLink?(link: PeerLink): void;
}

/** Closes that a member's own misbehaviour caused, detected here: counted like refusals. */
const ABUSE = new Set([
  'E_FLOOD',
  'E_BAD_FRAME',
  'E_FRAME_TOO_LARGE',
  'E_FRAME_TAMPERED',
  'E_FRAME_REPLAYED',
  'E_FRAME_MISSING',
]);

/** Why a link this actor holds is being closed, from the event that leaves the linked state. */
function closeReason(event: PeerEvent): [string, string] {
  switch (event.type) {
    case 'STOP':
      return ['E_SHUTDOWN', 'the peer is shutting down'];
    case 'PAUSE':
      return ['E_PARTITION', 'links cut'];
    case 'REVOKED':
      return ['E_REVOKED', 'the device was revoked'];
    case 'INBOUND':
      return ['E_DUPLICATE_LINK', 'replaced by a newer link'];
    default:
      return ['E_LINK_CLOSED', 'closed'];
  }
}

export function livePeerMachine(deps: NetworkDeps) {
  return peerMachine.provide({
    actors: {
      // A dial the actor gave up on (it left the state) must not leave a socket or a link behind.
      connect: fromPromise<MessageTransport, { addresses: PeerAddr[] }>(async ({ input, signal }) => {
        const t = await dialFirst(input.addresses, (a) => connectWs(a.host, a.port));
        if (signal.aborted) t.close({ code: 'E_DUPLICATE_LINK', message: 'no longer needed' });
        return t;
      }),
      handshake: fromPromise<PeerLink, { transport: MessageTransport; dev: string }>(async ({ input, signal }) => {
        const abandon = (): void => input.transport.close({ code: 'E_DUPLICATE_LINK', message: 'no longer needed' });
        signal.addEventListener('abort', abandon, { once: true });
        const link = await openPeerLink(input.transport, {
          role: 'initiator',
          privateKey: deps.self.privateKey,
          expectPeerId: input.dev,
          isAllowed: deps.verdict(input.transport.remoteAddress),
        });
        signal.removeEventListener('abort', abandon);
        if (signal.aborted) link.close('E_DUPLICATE_LINK', 'a link to this device exists');
        return link;
      }),
      watch: fromCallback<PeerEvent, { link: PeerLink }>(({ input, sendBack, receive }) => {
        let link = input.link;
        const closed = (r: CloseReason): void => {
          // A member cut off for misbehaving (detected here, not told by the peer) is counted.
          if (ABUSE.has(r.code) && !r.byPeer)
            deps.log.note(r.code, link.remoteAddress, { peer: link.peerId, reason: r.message });
          sendBack({ type: 'LINK_CLOSED', link, code: r.code, message: r.message });
        };
        const watch = (l: PeerLink): void => {
          link = l;
          if (!l.isOpen) return closed({ code: 'E_LINK_CLOSED', message: 'the link closed before it was adopted' });
          l.once('close', closed);
          deps.onLink(l);
        };
        // A direct path replaced a relayed one: the new link is the one to watch.
        receive((e) => {
          if (e.type !== 'WATCH' || e.link === link) return;
          link.off('close', closed);
          watch(e.link);
        });
        watch(link);
        return () => link.off('close', closed);
      }),
      rendezvous: fromCallback<PeerEvent, RvInput>(({ input, sendBack, receive }) => {
        const { dev, via, sid, purpose } = input;
        let stopped = false;
        let made: PeerLink | undefined;
        const fail = (e: unknown): void => {
          if (stopped) return;
          const code = (e as { code?: string })?.code ?? 'E_WEBRTC';
          deps.log.note(code === 'E_WEBRTC_TIMEOUT' ? 'E_RENDEZVOUS_TIMEOUT' : code, `webrtc via ${via.slice(0, 8)}`, {
            peer: dev,
          });
          sendBack({ type: 'RV_FAILED', sid, code, message: (e as Error)?.message ?? String(e) });
        };
        let session: ReturnType<typeof openWebRtc>;
        try {
          session = openWebRtc({
            role: input.offerer ? 'offerer' : 'answerer',
            bindAddress: deps.bindAddress(),
            iceServers: deps.iceServers(purpose),
            remoteAddress: `webrtc via ${via.slice(0, 8)}`,
            name: `${purpose}:${dev.slice(0, 8)}`,
            signal: (s) => {
              try {
                if (!stopped) deps.signal(dev, via, { sid, purpose, s });
              } catch (e) {
                session?.close();
                fail(e);
              }
            },
          });
        } catch (e) {
          fail(e);
          return;
        }
        if (input.offer) session.receive(input.offer);
        receive((e) => {
          if (e.type === 'SIGNAL' && e.sid === sid) session.receive(e.signal);
        });
        session.transport
          .then((t) =>
            openPeerLink(t, {
              role: input.offerer ? 'initiator' : 'responder',
              privateKey: deps.self.privateKey,
              expectPeerId: dev,
              // Only the device we signalled with, and only while it is a member.
              isAllowed: (_pub, peer) => peer === dev && deps.isMember(peer),
            }),
          )
          .then(async (link) => {
            const { path } = await settledPath(link);
            if (stopped) return link.close('E_DUPLICATE_LINK', 'no longer needed');
            // A probe looks for a direct path: a relayed one is no better than the link we have.
            if (purpose === 'probe' && path === 'webrtc-relay') {
              link.close('E_LINK_CLOSED', 'only a relayed path');
              return fail({ code: 'E_NO_DIRECT_PATH', message: 'only a relayed path was found' });
            }
            made = link;
            sendBack({ type: 'RV_UP', sid, link, relayed: path === 'webrtc-relay' });
          })
          .catch(fail);
        return () => {
          stopped = true;
          if (!made) session.close();
        };
      }),
      upgrade: fromCallback<PeerEvent, { link: PeerLink; offerer: boolean }>(({ input, sendBack }) => {
        const { link } = input;
        if (!deps.webrtc() || link.kind !== 'lan-ws') return;
        let rtc: PeerLink | undefined;
        new WebRtcUpgrade(link, input.offerer ? 'offerer' : 'answerer', {
          privateKey: deps.self.privateKey,
          bindAddress: deps.bindAddress(),
          isMember: (peer) => deps.isMember(peer),
          onLink: (l) => {
            rtc = l;
            deps.onRtcLink?.(l);
            l.once('close', (r) => {
              if (ABUSE.has(r.code) && !r.byPeer) deps.log.note(r.code, l.remoteAddress, { peer: l.peerId });
              sendBack({ type: 'RTC_DOWN', link: l });
            });
            sendBack({ type: 'RTC_UP', link: l });
          },
          onError: (e) => deps.log.note(e instanceof SdError ? e.code : 'E_WEBRTC', link.remoteAddress),
        });
        return () => rtc?.isOpen && rtc.close('E_LINK_CLOSED', 'the WebSocket link is gone');
      }),
    },
    actions: {
      linkUp: sendParent(({ context }: { context: PeerContext }) => ({
        type: 'LINK_UP' as const,
        peer: context.dev,
        link: (context.rtc ?? context.link)!,
      })),
      linkDown: sendParent(({ context }: { context: PeerContext }) => ({
        type: 'LINK_DOWN' as const,
        peer: context.dev,
      })),
      closeLink: ({ context, event }) => {
        const [code, message] = closeReason(event);
        if (context.rtc?.isOpen) context.rtc.close(code, message);
        if (context.link?.isOpen) context.link.close(code, message);
      },
      closeStray: ({ event }) => {
        if (event.type === 'RV_UP' && event.link.isOpen)
          event.link.close('E_DUPLICATE_LINK', 'a link to this device exists');
      },
      // Closed a little later: the far end may not have moved onto the direct link yet, and a
      // close it read first would look like a lost link.
      closeReplaced: ({ context }) => {
        const old = context.link;
        if (old?.isOpen) setTimeout(() => old.close('E_DUPLICATE_LINK', 'replaced by a direct path'), 3000).unref();
      },
      closeIncoming: ({ event }) => {
        if (event.type !== 'INBOUND') return;
        if (deps.paused()) event.link.close('E_PARTITION', 'links cut');
        else event.link.close('E_DUPLICATE_LINK', 'a link to this device exists');
      },
    },
  });
}

export function liveNetworkMachine(deps: NetworkDeps) {
  return networkMachine.provide({
    actors: {
      peer: livePeerMachine(deps),
      listener: fromCallback<NetworkEvent, { host: string; port: number }>(({ input, sendBack }) => {
        const inbound = (link: PeerLink): void => sendBack({ type: 'INBOUND', link });
        const accept = async (t: MessageTransport, ticket: Ticket): Promise<void> => {
          if (deps.paused()) return t.close({ code: 'E_PARTITION', message: 'links cut' });
          try {
            const link = await openPeerLink(t, {
              role: 'responder',
              privateKey: deps.self.privateKey,
              isAllowed: deps.verdict(ticket.address),
            });
            if (link.mode === 'pair') return deps.pair(link, ticket, inbound);
            ticket.release();
            inbound(link);
          } catch (e) {
            // The ticket goes with the socket (a refused stranger may linger a moment to read why).
            deps.log.note(e instanceof SdError ? e.code : 'E_BAD_HANDSHAKE', ticket.address);
          }
        };
        listenWs(
          {
            host: input.host,
            port: input.port,
            gate: new StrangerGate(deps.strangerLimits),
            onTurnedAway: (address) => deps.log.note('E_TOO_MANY_STRANGERS', address),
          },
          (t, ticket) => void accept(t, ticket),
        ).then(
          (l) => {
            deps.onListener(l);
            sendBack({ type: 'LISTENING', port: l.port });
          },
          (e: unknown) =>
            sendBack({
              type: 'LISTEN_FAILED',
              code: (e as { code?: string }).code ?? 'E_P2P_LISTEN',
              message: (e as Error).message,
            }),
        );
      }),
      discovery: fromCallback<NetworkEvent, { port: number }>(({ input, sendBack }) => {
        if (!mdnsEnabled()) return;
        // Members found on the LAN are dialed like saved peers (strangers are ignored).
        const d = startDiscovery(deps.self.id, input.port, (p) => {
          if (deps.isMember(p.dev)) sendBack({ type: 'ADDRESS', dev: p.dev, address: { host: p.host, port: p.port } });
        });
        return () => void d.stop();
      }),
    },
    actions: {
      toSync: ({ system }, params) => system.get('sync')?.send(params),
      refuse: ({ event }) => event.type === 'INBOUND' && event.link.close('E_SELF', 'a link to this device itself'),
    },
  });
}
