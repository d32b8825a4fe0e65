// The path a WebRTC link is given when it opens decides whether its peer machine probes for a
// direct path (and answers probes). Right after the link opens, the selected candidate pair may
// be unknown, or its far end a peer-reflexive stand-in for a relay candidate not yet signalled:
// deciding "direct" from that left one side of a relayed link deaf to the other's probes.
import test from 'ava';
import { settledPath, type LinkRoute } from '../../src/transport/types.js';

function link(routes: (LinkRoute | null)[], everyMs: number) {
  const t0 = Date.now();
  return {
    kind: 'webrtc' as const,
    route: () => routes[Math.min(routes.length - 1, Math.floor((Date.now() - t0) / everyMs))] ?? null,
  };
}

test('a route not known yet is waited for: a relay found late is relayed', async (t) => {
  const p = await settledPath(link([null, null, { local: 'host', remote: 'relay' }], 60), 2000);
  t.is(p.path, 'webrtc-relay');
});

test('a peer-reflexive end is waited for until the candidate behind it is known', async (t) => {
  const p = await settledPath(
    link(
      [
        { local: 'host', remote: 'prflx' },
        { local: 'host', remote: 'relay' },
      ],
      100,
    ),
    2000,
  );
  t.is(p.path, 'webrtc-relay');
  const d = await settledPath(
    link(
      [
        { local: 'host', remote: 'prflx' },
        { local: 'host', remote: 'host' },
      ],
      100,
    ),
    2000,
  );
  t.deepEqual(d, { path: 'webrtc-direct', candidate: 'host' });
});

test('a route still unknown after the wait counts as relayed; a peer-reflexive one as direct', async (t) => {
  const t0 = Date.now();
  t.is((await settledPath(link([null], 1000), 300)).path, 'webrtc-relay');
  t.true(Date.now() - t0 >= 290, 'it waited');
  t.deepEqual(await settledPath(link([{ local: 'host', remote: 'prflx' }], 1000), 200), {
    path: 'webrtc-direct',
    candidate: 'srflx',
  });
});

test('a known route is taken at once', async (t) => {
  const t0 = Date.now();
  t.deepEqual(await settledPath(link([{ local: 'srflx', remote: 'host' }], 1000)), {
    path: 'webrtc-direct',
    candidate: 'srflx',
  });
  t.true(Date.now() - t0 < 100);
});
