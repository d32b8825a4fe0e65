// automerge-repo's own network acceptance suite against LinkNetworkAdapter, with the three
// peers linked pairwise by in-memory SyncChannels.
import { describe, expect, it } from 'vitest';
import { runNetworkAdapterTests } from '@automerge/automerge-repo/helpers/tests/network-adapter-tests.js';
import type { PeerId } from '@automerge/automerge-repo';
import { LinkNetworkAdapter } from '../../src/sync/network-adapter.js';
import { memoryChannelPair, type MemoryChannel } from '../../src/sync/memory-channel.js';
import type { SdError } from '../../src/errors.js';

function link(x: LinkNetworkAdapter, y: LinkNetworkAdapter): MemoryChannel[] {
  const [toY, toX] = memoryChannelPair(
    () => x.peerId ?? '',
    () => y.peerId ?? '',
  );
  x.addChannel(toY);
  y.addChannel(toX);
  return [toY, toX];
}

runNetworkAdapterTests(async () => {
  // The suite leaves the third peer unconnected in two-peer tests: do not wait long for its hello.
  const opts = { readyTimeoutMs: 200 };
  const adapters = [new LinkNetworkAdapter(opts), new LinkNetworkAdapter(opts), new LinkNetworkAdapter(opts)] as const;
  const channels = [
    ...link(adapters[0], adapters[1]),
    ...link(adapters[0], adapters[2]),
    ...link(adapters[1], adapters[2]),
  ];
  const teardown = (): void => {
    for (const ch of channels) ch.close();
    for (const a of adapters) a.disconnect();
  };
  return { adapters: [adapters[0], adapters[1], adapters[2]], teardown };
}, 'LinkNetworkAdapter');

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('LinkNetworkAdapter hello', () => {
  it('refuses a hello whose PeerId differs from the one the link authenticated', async () => {
    const errors: string[] = [];
    const honest = new LinkNetworkAdapter({ onProtocolError: (e: SdError) => errors.push(e.code) });
    const liar = new LinkNetworkAdapter();
    const [toLiar, toHonest] = memoryChannelPair(
      () => 'honest',
      () => 'device-the-link-authenticated',
    );
    honest.addChannel(toLiar);
    liar.addChannel(toHonest);
    const seen: string[] = [];
    honest.on('peer-candidate', ({ peerId }) => seen.push(peerId));
    honest.connect('honest' as PeerId);
    liar.connect('someone-else' as PeerId);
    await tick();
    expect(seen).toStrictEqual([]);
    expect(errors).toContain('E_SYNC_PEER_MISMATCH');
    toLiar.close();
  });

  it('drops a message whose sender is not the peer of the link', async () => {
    const errors: string[] = [];
    const a = new LinkNetworkAdapter({ onProtocolError: (e: SdError) => errors.push(e.code) });
    const b = new LinkNetworkAdapter();
    const [ab, ba] = memoryChannelPair(
      () => 'a',
      () => 'b',
    );
    a.addChannel(ab);
    b.addChannel(ba);
    a.connect('a' as PeerId);
    b.connect('b' as PeerId);
    await a.whenReady();
    await tick();
    const got: unknown[] = [];
    a.on('message', (m) => got.push(m));
    b.send({ type: 'sync', senderId: 'mallory' as PeerId, targetId: 'a' as PeerId, data: new Uint8Array([1]) });
    b.send({ type: 'sync', senderId: 'b' as PeerId, targetId: 'a' as PeerId, data: new Uint8Array([2]) });
    await tick();
    expect(got).toStrictEqual([{ type: 'sync', senderId: 'b', targetId: 'a', data: new Uint8Array([2]) }]);
    expect(errors).toContain('E_SYNC_SPOOFED');
    ab.close();
  });

  it('announces the peer once when two links reach it, and keeps it while one link remains', async () => {
    const a = new LinkNetworkAdapter();
    const b = new LinkNetworkAdapter();
    const pairs = [
      memoryChannelPair(
        () => 'a',
        () => 'b',
      ),
      memoryChannelPair(
        () => 'a',
        () => 'b',
      ),
    ];
    for (const [ab, ba] of pairs) {
      a.addChannel(ab);
      b.addChannel(ba);
    }
    const events: string[] = [];
    a.on('peer-candidate', ({ peerId }) => events.push(`up:${peerId}`));
    a.on('peer-disconnected', ({ peerId }) => events.push(`down:${peerId}`));
    a.connect('a' as PeerId);
    b.connect('b' as PeerId);
    await tick();
    pairs[0]![0].close();
    await tick();
    expect(events).toStrictEqual(['up:b']);
    pairs[1]![0].close();
    expect(events).toStrictEqual(['up:b', 'down:b']);
  });
});
