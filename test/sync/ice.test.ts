// ICE settings: the URLs a user types, coturn's time-limited credentials, and what a node hands its
// members (credentials minted per member, never the secret; junk and expired hand-outs dropped).
// That coturn accepts these credentials is shown on the real path in nat.test.ts.
import test from 'ava';
import { createHmac } from 'node:crypto';
import {
  IceConfig,
  decodeShared,
  encodeShared,
  formatIceUrl,
  parseIceServers,
  restCredentials,
  toRtcServers,
} from '../../src/sync/ice.js';
import { pack } from '../../src/events/codec.js';

test('STUN and TURN URLs as typed, with defaults; odd and hostile ones refused with the reason', (t) => {
  const list = parseIceServers(
    'stun:stun.example.org, turn:ann:p%40ss@turn.example.org:3479, turns:turn.example.org, turn:[2001:db8::1]:3478?transport=tcp',
  );
  t.deepEqual(
    list.map((u) => [u.kind, u.host, u.port, u.username ?? null, u.password ?? null, u.transport ?? null]),
    [
      ['stun', 'stun.example.org', 3478, null, null, null],
      ['turn', 'turn.example.org', 3479, 'ann', 'p@ss', null],
      ['turns', 'turn.example.org', 5349, null, null, null],
      ['turn', '2001:db8::1', 3478, null, null, 'tcp'],
    ],
  );
  t.is(formatIceUrl(list[1]!), 'turn:ann:***@turn.example.org:3479');
  t.deepEqual(parseIceServers('none'), []);
  for (const bad of [
    'http://turn.example.org',
    'stun:ann:pw@stun.example.org',
    'turn:host:70000',
    'turn:host name:3478',
    'turn:host:3478?transport=sctp',
    Array.from({ length: 9 }, (_, i) => `stun:s${i}.example.org`).join(','),
  ])
    t.is((t.throws(() => parseIceServers(bad)) as { code?: string } | undefined)?.code, 'E_BAD_INPUT', bad);
  // A TURN URL without credentials (and no secret to mint them) is no server to libdatachannel.
  t.deepEqual(toRtcServers(parseIceServers('turn:turn.example.org')), []);
});

test("coturn's REST credentials: user expiry:name, password base64(HMAC-SHA1(secret, user))", (t) => {
  const c = restCredentials('s3cret', 'dev', 3600, 1_800_000_000_000);
  t.is(c.username, '1800003600:dev');
  t.is(c.expires, 1_800_003_600_000);
  // The scheme as coturn's documentation states it (`use-auth-secret`), computed independently.
  t.is(c.password, createHmac('sha1', 's3cret').update('1800003600:dev').digest('base64'));
});

test('a node hands each member credentials minted for it, never the secret; expired or junk hand-outs are dropped', (t) => {
  const now = 1_800_000_000_000;
  const node = new IceConfig(
    { servers: parseIceServers('turn:turn.example.org,stun:turn.example.org'), secret: 'node-secret', share: true },
    'node',
  );
  const forA = node.forMember('aaaa', now)!;
  const forB = node.forMember('bbbb', now)!;
  t.not(forA.servers[0]!.username, forB.servers[0]!.username);
  t.regex(forA.servers[0]!.username!, /:aaaa$/);
  const wire = Buffer.from(encodeShared(forA.servers, forA.expires));
  t.is(wire.indexOf(Buffer.from('node-secret')), -1, 'the secret never leaves the node');
  // A laptop with no settings of its own uses what the node handed it, until it expires.
  const laptop = new IceConfig({ servers: [], share: false }, 'aaaa');
  laptop.receive('node', decodeShared(wire)!);
  t.deepEqual(
    laptop.servers(now).map((u) => u.kind),
    ['turn', 'stun'],
  );
  t.deepEqual(laptop.servers(forA.expires + 1), []);
  // A laptop that does not share hands nothing; a node without servers neither.
  t.is(laptop.forMember('bbbb', now), undefined);
  t.is(new IceConfig({ servers: [], secret: 'x', share: true }, 'n').forMember('aaaa', now), undefined);
  // Junk on the wire is refused whole.
  for (const junk of [
    pack({ t: 'ice', servers: [{ kind: 'ftp', host: 'h', port: 1 }], expires: 1 }),
    pack({ t: 'ice', servers: [{ kind: 'turn', host: 'a b', port: 3478 }], expires: 1 }),
    pack({ t: 'ice', servers: 'x', expires: 1 }),
    Uint8Array.of(1, 2, 3),
  ])
    t.is(decodeShared(junk), undefined);
});
