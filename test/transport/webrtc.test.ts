import test from 'ava';
import { burst, linkPair, rtcPair } from './helpers.js';

test('WebRTC on 127.0.0.1: 10,000 messages of mixed sizes up to 4 MiB, sent in a burst, all arrive in order', async (t) => {
  const [a, b] = await linkPair(t, await rtcPair(t));
  t.is(a.kind, 'webrtc');
  const { ms, bytes } = await burst(t, a, b, 10_000, 4 * 1024 * 1024);
  const s = a.stats();
  t.log(
    `${(bytes / 1e6).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s = ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s; retransmits ${s.retransmits}, srtt ${s.srttMs.toFixed(1)} ms`,
  );
});

test('WebRTC: the close reason surfaces on both sides', async (t) => {
  const [a, b] = await linkPair(t, await rtcPair(t));
  const atA = new Promise<string>((r) => a.once('close', r));
  const atB = new Promise<string>((r) => b.once('close', r));
  a.close('E_SHUTDOWN: the peer is shutting down');
  t.is(await atA, 'E_SHUTDOWN: the peer is shutting down');
  t.is(await atB, 'E_SHUTDOWN: the peer is shutting down');
  t.false(b.isOpen);
});
