// A SyncChannel (what FeedSession and the automerge network adapter speak) on one channel of a
// PeerLink (src/transport/types.ts), WebSocket or WebRTC alike.
import type { PeerLink } from '../transport/types.js';
import type { SyncChannel } from './channel.js';

export function linkChannel(link: PeerLink, name: string, peerId: string = link.peerId): SyncChannel {
  return {
    peerId,
    send: (b) => void link.send(name, b),
    onMessage: (cb) => link.on('message', (ch, b) => ch === name && cb(b)),
    onClose: (cb) => link.once('close', () => cb()),
  };
}
