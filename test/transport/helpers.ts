// Shared by the transport tests: device keys, link pairs over each transport, a checked burst.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { memoryPair, prng } from '../../src/transport/faulty.js';
import { rawPublicKeyOf } from '../../src/transport/identity.js';
import { openPeerLink, type OpenPeerLinkOptions } from '../../src/transport/peer-link.js';
import type { MessageTransport, PeerLink } from '../../src/transport/types.js';
import { openWebRtc, type RtcSignal } from '../../src/transport/webrtc.js';
import { connectWs, listenWs } from '../../src/transport/ws.js';

export interface Device {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

export function device(): Device {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: rawPublicKeyOf(privateKey) };
}

export const allowAll = (): boolean => true;

export function linkOpts(d: Device, extra: Partial<OpenPeerLinkOptions> = {}): OpenPeerLinkOptions {
  return { privateKey: d.privateKey, publicKey: d.publicKey, isAllowed: allowAll, ...extra };
}

export async function wsPair(t: ExecutionContext): Promise<[MessageTransport, MessageTransport]> {
  let accepted!: (tr: MessageTransport) => void;
  const server = new Promise<MessageTransport>((r) => (accepted = r));
  const listener = await listenWs({ host: '127.0.0.1', port: 0 }, (tr) => accepted(tr));
  t.teardown(() => listener.close());
  const client = await connectWs(`ws://127.0.0.1:${listener.port}`);
  const srv = await server;
  t.teardown(() => (client.close('test over'), srv.close('test over')));
  return [client, srv];
}

export async function rtcPair(t: ExecutionContext): Promise<[MessageTransport, MessageTransport]> {
  // Signals cross asynchronously, as they would over an existing link.
  const relay = (to: () => { receive(s: RtcSignal): void }) => (s: RtcSignal) => setImmediate(() => to().receive(s));
  const a = openWebRtc({ role: 'offerer', bindAddress: '127.0.0.1', signal: relay(() => b), name: 'a' });
  const b = openWebRtc({ role: 'answerer', bindAddress: '127.0.0.1', signal: relay(() => a), name: 'b' });
  t.teardown(() => (a.close(), b.close()));
  return Promise.all([a.transport, b.transport]);
}

export function memPair(t: ExecutionContext): [MessageTransport, MessageTransport] {
  const p = memoryPair();
  t.teardown(() => (p[0].close('test over'), p[1].close('test over')));
  return p;
}

export async function linkPair(
  t: ExecutionContext,
  [ta, tb]: [MessageTransport, MessageTransport],
  extra: Partial<OpenPeerLinkOptions> = {},
): Promise<[PeerLink, PeerLink, Device, Device]> {
  const da = device();
  const db = device();
  const [a, b] = await Promise.all([openPeerLink(ta, linkOpts(da, extra)), openPeerLink(tb, linkOpts(db, extra))]);
  t.teardown(() => (a.close('test over'), b.close('test over')));
  return [a, b, da, db];
}

/**
 * Sends `count` messages of mixed sizes (mostly small, some up to `maxSize`) as fast as the
 * link accepts them, and checks that every byte arrives in order, comparing running hashes.
 */
export async function burst(
  t: ExecutionContext,
  a: PeerLink,
  b: PeerLink,
  count: number,
  maxSize: number,
): Promise<{ ms: number; bytes: number }> {
  const rnd = prng(2024);
  const pool = new Uint8Array(maxSize + 8);
  const fill = prng(99);
  for (let i = 0; i < pool.length; i++) pool[i] = (fill() * 256) | 0;
  const channels = ['feed:lib', 'am:lib', 7] as const;
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let received = 0;
  let receivedBytes = 0;
  let firstError: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    b.on('close', (r) => reject(new Error(`link closed mid-burst: ${r}`)));
    b.on('message', (ch, m) => {
      const idx = m.length >= 4 ? new DataView(m.buffer, m.byteOffset).getUint32(0) : -1;
      if (!firstError && (idx !== received || ch !== channels[received % 3]))
        firstError = `message ${received} arrived as #${idx} on ${ch}`;
      got.update(m);
      receivedBytes += m.length;
      if (++received === count) resolve();
    });
  });
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const r = rnd();
    const size =
      i === 0
        ? maxSize
        : r < 0.97
          ? 4 + ((rnd() * 4096) | 0)
          : r < 0.995
            ? 4096 + ((rnd() * 256 * 1024) | 0)
            : 256 * 1024 + ((rnd() * (maxSize - 256 * 1024)) | 0);
    const off = (rnd() * 8) | 0;
    const m = pool.slice(off, off + size);
    new DataView(m.buffer).setUint32(0, i);
    sent.update(m);
    bytes += size;
    if (!a.send(channels[i % 3], m)) await new Promise<void>((r) => a.once('drain', r));
  }
  await done;
  const ms = performance.now() - started;
  t.is(firstError, undefined);
  t.is(received, count);
  t.is(receivedBytes, bytes);
  t.is(got.digest('hex'), sent.digest('hex'));
  return { ms, bytes };
}
