// Two devices that cannot dial each other (neither learns the other's address) but both link to a
// third member: they exchange WebRTC offers and candidates through it, sealed for each other, and
// link directly. On loopback, so the path is a host one; the NAT topologies are in nat.test.ts.
import test from 'ava';
import { Core } from '../../src/core.js';
import { pack } from '../../src/events/codec.js';
import { seal } from '../../src/transport/seal.js';
import { tempDir } from '../helpers.js';
import { eventually, until } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';
process.env.SD_MDNS = 'off';

type T = Parameters<typeof tempDir>[0];

async function device(t: T, name: string, learn: boolean): Promise<Core> {
  const core = await Core.open(tempDir(t), { network: { learnAddresses: learn } });
  t.teardown(() => core.close());
  await core.command('device.rename', { name });
  await core.startPeers('127.0.0.1', 0);
  return core;
}

/** A node, and two laptops that join its library and never learn each other's address. */
async function triangle(t: T): Promise<{ node: Core; a: Core; b: Core; lib: string }> {
  const node = await device(t, 'node', true);
  const a = await device(t, 'laptop-a', false);
  const b = await device(t, 'laptop-b', false);
  const lib = node.libraries.resolve().id;
  for (const x of [a, b]) {
    const inv = await node.command<{ code: string }>('pair.invite', {});
    await x.command('pair.join', { code: inv.result!.code });
  }
  return { node, a, b, lib };
}

/** How `c`'s actor for device `dev` stands: its state, the members it may call through, its last error. */
function actorOf(c: Core, dev: string): string {
  const child = c.services!.network.getSnapshot().children[`peer:${dev}`];
  if (!child) return 'no actor';
  const s = child.getSnapshot() as { value: unknown; context: { relays: string[]; lastError: unknown } };
  return JSON.stringify({ state: s.value, relays: s.context.relays, lastError: s.context.lastError });
}

async function linked(t: T & { fail(m: string): void }, a: Core, b: Core): Promise<void> {
  const both = (): boolean => !!a.peers!.online(b.device.id).online && !!b.peers!.online(a.device.id).online;
  if (!(await eventually(both, 60_000)))
    t.fail(`A and B did not link in 60 s: A for B ${actorOf(a, b.device.id)}; B for A ${actorOf(b, a.device.id)}`);
}

const hasTag = (c: Core, lib: string, name: string): boolean =>
  !!c.libraries.resolve(lib).db.prepare('SELECT 1 FROM tags WHERE name = ?').get(name);

test.serial(
  'two members that cannot dial each other link through a common member, directly, and sync over that link',
  async (t) => {
    const { node, a, b, lib } = await triangle(t);
    await linked(t, a, b);
    const seen = a.peers!.online(b.device.id);
    t.is(seen.link, 'webrtc');
    t.is(seen.path, 'webrtc-direct (host)');
    t.true(a.peers!.book.of(b.device.id).length === 0, 'A never learnt an address of B');
    // sd sync status says how, since when, and through whom B can be reached.
    const st = await a.query<{
      peers: { device: string; path: string; rttMs: number | null; since: number; via: string[] }[];
    }>('sync.status', {}, { library: lib });
    const pb = st.peers.find((p) => p.device === b.device.id)!;
    t.is(pb.path, 'webrtc-direct (host)');
    t.deepEqual(pb.via, [node.device.id]);
    t.true(pb.since > 0 && pb.since <= Date.now());
    await until('an RTT measured', () => a.peers!.online(b.device.id).rttMs !== null, 10_000);
    const devs = await a.query<{ id: string; path: string | null; rttMs: number | null }[]>(
      'device.list',
      {},
      { library: lib },
    );
    t.is(devs.find((d) => d.id === b.device.id)?.path, 'webrtc-direct (host)');
    // Tags converge both ways; B's events reach A over the direct link.
    await a.command('tag.create', { name: 'from-a' }, { library: lib });
    await b.command('tag.create', { name: 'from-b' }, { library: lib });
    await until('tags converge', () => hasTag(a, lib, 'from-b') && hasTag(b, lib, 'from-a'), 60_000);
    t.pass();
  },
);

test.serial(
  '`sd peer add DEVICE_ID` links through the members; an unknown id and an unreachable member are refused',
  async (t) => {
    const { node, a, b, lib } = await triangle(t);
    // B's join ends when B holds the roster; A hears of B on its own link to the node, a moment later.
    await until('A has B on its roster', () => !!a.libraries.resolve(lib).keyOf(b.device.id), 30_000);
    const r = await a.command<{ device: string; path: string; address: string | null }>(
      'peer.add',
      { address: b.device.id.slice(0, 10) },
      { library: lib },
    );
    t.is(r.result!.device, b.device.id);
    t.is(r.result!.address, null);
    t.is(r.result!.path, 'webrtc-direct (host)');
    t.true(r.verify!.ok);
    const bad = await t.throwsAsync(a.command('peer.add', { address: 'zzzzzzzzzzzz' }, { library: lib }));
    t.is((bad as { code?: string }).code, 'E_BAD_INPUT');
    // B stops: no member links to it any more, and A has no address of it.
    await b.close();
    await until('the node saw B go', () => !node.peers!.online(b.device.id).online, 60_000);
    await until(
      'A heard the node no longer reaches B',
      () => a.peers!.rendezvous.relaysOf(b.device.id).length === 0,
      60_000,
    );
    const gone = await t.throwsAsync(a.command('peer.add', { address: b.device.id }, { library: lib }));
    t.is((gone as { code?: string }).code, 'E_PEER_UNREACHABLE');
  },
);

test.serial(
  'the member in the middle forwards only what a device signs for itself, and cannot read or alter it',
  async (t) => {
    const { node, a, b, lib } = await triangle(t);
    await linked(t, a, b);
    const before = { ...b.peers!.refusals };
    const toNode = (
      a.services!.network.getSnapshot().children[`peer:${node.device.id}`]!.getSnapshot().context as {
        link: { send(ch: string, d: Uint8Array): boolean };
      }
    ).link;
    // A writes a message in the name of the node's other member: the node refuses to forward it.
    toNode.send('ctl', pack({ t: 'sig', from: b.device.id, to: a.device.id, box: new Uint8Array(64) }));
    // A box the node altered in transit (here: A sends B a box that does not open) is refused by B.
    const box = seal(
      { sid: 'x', purpose: 'link', s: { type: 'candidate', candidate: 'c', mid: '0' } },
      {
        id: a.device.id,
        privateKey: a.device.privateKey,
      },
      { id: b.device.id, publicKey: b.device.publicKey },
    );
    box[40] ^= 1;
    toNode.send('ctl', pack({ t: 'sig', from: a.device.id, to: b.device.id, box }));
    await until(
      'both refusals counted',
      () =>
        (node.peers!.refusals.E_BAD_FRAME ?? 0) > 0 && (b.peers!.refusals.E_BAD_SEAL ?? 0) > (before.E_BAD_SEAL ?? 0),
      60_000,
    );
    // The link between A and B is untouched, and they still sync.
    await a.command('tag.create', { name: 'after-forgery' }, { library: lib });
    await until('the tag reached B', () => hasTag(b, lib, 'after-forgery'), 60_000);
    t.true(a.peers!.online(b.device.id).online);
  },
);
