// In-process SyncChannel pairs: what tests (and an embedder running two libraries in one
// process) use in place of a PeerLink. Delivery is asynchronous, like a real link.
import type { SyncChannel } from '../../src/sync/channel.js';

export interface MemoryChannel extends SyncChannel {
  close(): void;
}

interface End {
  peerId: () => string;
  messageCbs: ((bytes: Uint8Array) => void)[];
  closeCbs: (() => void)[];
}

/**
 * Two connected ends. `peerA`/`peerB` name each end's owner; they are read lazily because an
 * automerge PeerId is often only known once the repo calls connect().
 */
export function memoryChannelPair(peerA: () => string, peerB: () => string): [MemoryChannel, MemoryChannel] {
  let closed = false;
  const a: End = { peerId: peerA, messageCbs: [], closeCbs: [] };
  const b: End = { peerId: peerB, messageCbs: [], closeCbs: [] };
  const close = (): void => {
    if (closed) return;
    closed = true;
    // Both ends learn of the close, as they would when a socket drops.
    for (const cb of [...a.closeCbs, ...b.closeCbs]) cb();
  };
  const end = (self: End, other: End): MemoryChannel => ({
    get peerId() {
      return other.peerId();
    },
    send(bytes: Uint8Array) {
      if (closed) throw new Error('memory channel is closed');
      const copy = bytes.slice(); // the receiver must not share the sender's buffer
      setImmediate(() => {
        if (!closed) for (const cb of other.messageCbs) cb(copy);
      });
    },
    onMessage(cb) {
      self.messageCbs.push(cb);
    },
    onClose(cb) {
      self.closeCbs.push(cb);
    },
    close,
  });
  return [end(a, b), end(b, a)];
}
