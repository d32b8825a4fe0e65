// Pairing, peers, sync status and revocation.
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { fingerprint } from '../../events/keys.js';
import { check, defineCommand, defineQuery } from '../define.js';
import { requireAdmin } from '../device/roster.js';
import type { PreviewHost } from '../host.js';

/** The network (what a preview reads, or what a commit drives), or a refusal when it is off. */
function peersOf<P>(core: { readonly peers: P | undefined }): P {
  if (!core.peers)
    throw new SdError(
      'E_P2P_OFF',
      'the daemon is not listening for peers; restart it with `sd start --p2p-port 0` (or a fixed port)',
    );
  return core.peers;
}

/** The address other devices can reach: the bound host, or this machine's first LAN address. */
function advertised(): string | undefined {
  const bound = process.env.SD_P2P_HOST;
  if (bound && bound !== '0.0.0.0') return bound;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

const Duration = z.string().regex(/^\d+[smh]$/, 'a duration like 90s, 5m or 1h');
const ms = (d: string): number =>
  Number(d.slice(0, -1)) * { s: 1000, m: 60_000, h: 3600_000 }[d.slice(-1) as 's' | 'm' | 'h'];

export const pairInvite = defineCommand({
  name: 'pair.invite',
  summary: 'make a one-time code that lets another device join this library',
  input: z.object({ ttl: Duration.default('5m'), host: z.string().optional() }),
  preview: ({ core, lib }, { ttl }) => {
    peersOf(core);
    requireAdmin(core, lib, 'invite devices');
    return {
      summary: `invite a device into "${lib.name}" (code valid ${ttl}, once)`,
      changes: [{ op: 'create', target: 'pairing code', detail: `valid ${ttl}, one use` }],
    };
  },
  commit: ({ core, lib }, plan) => {
    const r = peersOf(core).invite(lib, ms(plan.input.ttl), plan.input.host ?? advertised());
    return { ...r, library: lib.name, device: core.device.name, fingerprint: fingerprint(core.device.publicKey) };
  },
  verify: ({ core }) => [check((core.peers?.invites.active ?? 0) > 0, 'the invite is open')],
});

export const pairJoin = defineCommand({
  name: 'pair.join',
  summary: 'join the library of the device that made the code',
  scope: 'dataDir',
  input: z.object({ code: z.string().min(10) }),
  preview: ({ core }, { code }) => {
    peersOf(core);
    return {
      summary: 'join a library with a pairing code',
      changes: [{ op: 'create', target: 'library membership', detail: `code ${code.slice(0, 12)}…` }],
    };
  },
  commit: async ({ core }, plan) => {
    const { member, ...joined } = await peersOf(core).join(plan.input.code);
    const isMember = await member();
    // The joined library becomes the current one (the unused first-start library goes).
    const { current, dropped } = await core.libraries.adoptJoined(joined.library);
    return { ...joined, member: isMember, current, dropped };
  },
  verify: ({ core }, _p, r) => [
    check(
      core.libraries.list().some((l) => l.id === r.library),
      'the library exists here',
    ),
    check(core.libraries.currentId === r.library, 'the joined library is the current one'),
    check(r.member, "this device is on the library's roster", r.member ? undefined : 'the roster has not arrived yet'),
  ],
});

const Address = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'HOST:PORT');
const split = (a: string): { host: string; port: number } => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
};

/** A device id (or an unambiguous prefix of 4 or more) on the roster of a library here. */
function rosterDevice(core: PreviewHost, ref: string): string | undefined {
  if (!/^[a-z2-7]{4,32}$/.test(ref)) return undefined;
  const found = new Set<string>();
  for (const l of core.libraries.list())
    for (const r of l.db.prepare('SELECT dev FROM devices WHERE dev LIKE ?').all(`${ref}%`) as { dev: string }[])
      if (r.dev !== core.device.id) found.add(r.dev);
  if (found.size > 1)
    throw new SdError('E_AMBIGUOUS_DEVICE', `"${ref}" matches ${found.size} devices; use more of the id`);
  return [...found][0];
}

const nameOf = (core: PreviewHost, dev: string): string | null =>
  core.libraries
    .list()
    .map((l) => l.db.prepare('SELECT name FROM devices WHERE dev = ?').get(dev) as { name: string } | undefined)
    .find((r) => r)?.name ?? null;

export const addPeer = defineCommand({
  name: 'peer.add',
  summary: 'connect to a peer address, or to a member by its device id through the members, now',
  scope: 'dataDir',
  input: z.object({ address: z.string().min(1).max(300) }),
  preview: ({ core }, { address }) => {
    peersOf(core);
    if (Address.safeParse(address).success) {
      const { port } = split(address);
      if (port < 1 || port > 65535) throw new SdError('E_BAD_INPUT', `port ${port} is out of range`);
      return { summary: `connect to ${address}`, changes: [{ op: 'create', target: `peer ${address}` }] };
    }
    const dev = rosterDevice(core, address);
    if (!dev)
      throw new SdError(
        'E_BAD_INPUT',
        `"${address}" is neither HOST:PORT nor the id of a device in a library here (see \`sd device list\`)`,
      );
    return {
      summary: `link to device ${dev.slice(0, 8)} (at a known address, or through the members that link to it)`,
      changes: [{ op: 'create', target: `link to ${dev.slice(0, 8)}` }],
      data: { dev },
    };
  },
  // Tries at once: an address where nothing answers, or where a non-member answers, is refused.
  commit: async ({ core }, plan) => {
    if (plan.data?.dev) {
      const r = await peersOf(core).callPeer(plan.data.dev);
      return {
        address: null,
        device: r.device,
        name: nameOf(core, r.device),
        fingerprint: r.fingerprint,
        path: r.path,
      };
    }
    const reached = await peersOf(core).addPeer(split(plan.input.address));
    return {
      address: plan.input.address,
      device: reached.device,
      name: nameOf(core, reached.device),
      fingerprint: reached.fingerprint,
      path: 'lan-ws',
    };
  },
  verify: ({ core }, plan, r) => [
    r.address === null
      ? check(!!core.peers?.online(r.device).online, 'the device is linked')
      : check(
          core.peers!.book.of(r.device).some((e) => `${e.host}:${e.port}` === plan.input.address),
          'the address is remembered for that device',
        ),
  ],
});

export const removePeer = defineCommand({
  name: 'peer.remove',
  summary: "forget a peer's address (or all addresses of a device) and drop its link",
  scope: 'dataDir',
  input: z.object({ peer: z.string().min(1) }),
  preview: ({ core }, { peer }) => {
    const net = peersOf(core);
    const byAddr = Address.safeParse(peer).success ? split(peer) : undefined;
    const entries = net.book
      .list()
      .filter((e) =>
        byAddr
          ? e.host === byAddr.host && e.port === byAddr.port
          : e.dev === peer || (peer.length >= 4 && e.dev?.startsWith(peer)),
      );
    if (entries.length === 0)
      throw new SdError('E_PEER_NOT_FOUND', `no remembered peer "${peer}" (see \`sd peer list\`)`);
    const devs = new Set(entries.map((e) => e.dev));
    if (!byAddr && devs.size > 1)
      throw new SdError('E_AMBIGUOUS_DEVICE', `"${peer}" matches ${devs.size} devices; use more of the id`);
    return {
      summary: `forget ${entries.length} address(es)${!byAddr ? ` of device ${String([...devs][0]).slice(0, 8)}` : ` ${peer}`}`,
      changes: entries.map((e) => ({
        op: 'delete',
        target: `${e.host}:${e.port}`,
        detail: e.dev ? `device ${e.dev.slice(0, 8)}` : undefined,
      })),
      warnings: [
        'a member is still found again through the other members and the LAN; to stop syncing with it, revoke it (`sd device revoke`)',
      ],
      data: byAddr ? { host: byAddr.host, port: byAddr.port } : { dev: String([...devs][0]) },
    };
  },
  commit: ({ core }, plan) => ({ removed: peersOf(core).removePeer(plan.data!).length }),
  verify: ({ core }, plan) => [
    check(
      !core
        .peers!.book.list()
        .some((e) =>
          plan.data!.dev ? e.dev === plan.data!.dev : e.host === plan.data!.host && e.port === plan.data!.port,
        ),
      'the address is forgotten',
    ),
  ],
});

export const listPeers = defineQuery({
  name: 'peer.list',
  summary: 'known peers and their links',
  scope: 'dataDir',
  input: z.object({}),
  run: ({ core }) => (core.peers ? core.peers.status() : { port: null, refusals: {}, peers: [] }),
});

export const syncStatus = defineQuery({
  name: 'sync.status',
  summary: 'per peer: link, state, events behind/ahead per feed, refusals, last error',
  input: z.object({}),
  run: ({ core, db }) => {
    const st = core.peers ? core.peers.status() : { port: null, refusals: {}, peers: [] };
    const names = new Map(
      (db.prepare('SELECT dev, name FROM devices').all() as { dev: string; name: string }[]).map((r) => [
        r.dev,
        r.name,
      ]),
    );
    // Events stored in the log but without effect (a rule they break), by author and reason.
    const refusedEvents = (
      db.prepare('SELECT dev, code, COUNT(*) AS n FROM refused GROUP BY dev, code ORDER BY dev, code').all() as {
        dev: string;
        code: string;
        n: number;
      }[]
    ).map((r) => ({ device: r.dev, name: names.get(r.dev) ?? null, code: r.code, count: r.n }));
    const transfers = (core.transfers?.board.views() ?? []).map((x) => ({ ...x, peerName: names.get(x.peer) ?? null }));
    return {
      ...st,
      refusedEvents,
      transfers,
      transferBytes: { ...(core.transfers?.board.bytes ?? { sent: 0, received: 0 }) },
      peers: st.peers.map((p) => ({ ...p, name: names.get(p.device) ?? null })),
    };
  },
});
