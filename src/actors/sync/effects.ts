// The real effects of SyncService: a FeedSession on the peer link's channel for each session, the
// roster checks, and telling NetworkService about revocations.
import { fromCallback } from 'xstate';
import type { Library } from '../../library/library.js';
import type { PeerLink } from '../../transport/types.js';
import { FeedSession } from '../../sync/feed.js';
import { linkChannel } from '../../sync/mux-channel.js';
import type { RefusalLog } from '../../sync/refusals.js';
import { sessionMachine, type SessionEvent, type SessionInput } from './session.js';
import { syncServiceMachine } from './service.js';

export interface SyncDeps {
  library(id: string): Library | undefined;
  /** On the roster (or a trust anchor) of `lib`, and not revoked. */
  memberOf(lib: string, dev: string): boolean;
  /** A member of any library of this device. */
  isMember(dev: string): boolean;
  log: RefusalLog;
}

// Misbehaving messages close the link after a few; going over the byte budget at once.
const CLOSE_AFTER = new Set(['E_BAD_SIGNATURE', 'E_BROKEN_CHAIN', 'E_BAD_EVENT', 'E_BAD_FRAME', 'E_BAD_WANT']);

export function liveSessionMachine(deps: SyncDeps) {
  return sessionMachine.provide({
    actors: {
      feed: fromCallback<SessionEvent, SessionInput>(({ input, sendBack, receive }) => {
        const lib = deps.library(input.lib);
        const link = input.link as PeerLink;
        if (!lib || !link.isOpen) return;
        const report = (kind: 'HEADS' | 'PROGRESS'): void => {
          const { behind, ahead } = s.balance();
          sendBack({
            type: kind,
            behind,
            ahead,
            received: s.stats.received,
            sent: s.stats.sent,
            lastError: s.stats.lastError,
            feeds: s.lag(),
          });
        };
        const s: FeedSession = new FeedSession(
          lib,
          linkChannel(link, `feed:${lib.id}`),
          (e) => {
            deps.log.note(e.code, link.remoteAddress, { peer: link.peerId, lib: lib.id });
            sendBack({ type: 'REFUSED', code: e.code, message: e.message });
            if (e.code === 'E_RATE_LIMIT') link.close(e.code, e.message);
            else if (CLOSE_AFTER.has(e.code) && (s.stats.rejected[e.code] ?? 0) > 20)
              link.close(e.code, 'too many bad messages');
          },
          { selfAnnounce: false, onProgress: (p) => report(p.kind === 'heads' ? 'HEADS' : 'PROGRESS') },
        );
        receive((e) => {
          if (e.type === 'COMMITTED') s.announce({ dev: e.dev, seq: e.seq, type: e.evType });
          else if (e.type === 'COMMITTED_GROUP')
            for (const ev of e.events) s.announce({ dev: ev.dev, seq: ev.seq, type: ev.evType });
        });
        // Shared changes travel only inside signed events on this feed: no automerge-repo sync.
        s.start();
        return () => s.close();
      }),
    },
  });
}

export function liveSyncMachine(deps: SyncDeps) {
  return syncServiceMachine.provide({
    actors: { session: liveSessionMachine(deps) },
    guards: { member: (_, params) => deps.memberOf(params.lib, params.peer) },
    actions: {
      // A device no library keeps as a member any more loses its link.
      revoked: ({ system }, params) => {
        if (!deps.isMember(params.peer)) system.get('network')?.send({ type: 'REVOKED', dev: params.peer });
      },
    },
  });
}
