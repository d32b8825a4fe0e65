// Pairing, peers, sync status and revocation.
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import type { Core } from '../../core.js';
import { SdError } from '../../errors.js';
import { fingerprint } from '../../events/keys.js';
import { check, defineCommand, defineQuery } from '../define.js';
import { resolveDevice } from '../log/queries.js';

function peersOf(core: Core) {
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
  commit: ({ core }, plan) => peersOf(core).join(plan.input.code),
  verify: ({ core }, _p, r) => [
    check(
      core.libraries.list().some((l) => l.id === r.library),
      'the library exists here',
    ),
  ],
});

export const addPeer = defineCommand({
  name: 'peer.add',
  summary: 'remember a peer address and connect to it',
  scope: 'dataDir',
  input: z.object({ address: z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'HOST:PORT') }),
  preview: ({ core }, { address }) => {
    peersOf(core);
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw new SdError('E_BAD_INPUT', `port ${port} is out of range`);
    return { summary: `connect to ${address}`, changes: [{ op: 'create', target: `peer ${address}` }] };
  },
  commit: ({ core }, plan) => {
    const a = plan.input.address;
    const i = a.lastIndexOf(':');
    peersOf(core).addPeer({ host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) });
    return { address: a };
  },
  verify: ({ core }, plan) => [
    check(
      core
        .peers!.status()
        .peers.some(
          (p) =>
            p.address === plan.input.address ||
            p.address?.endsWith(plan.input.address.slice(plan.input.address.lastIndexOf(':'))),
        ),
      'the peer is known',
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
    return { ...st, peers: st.peers.map((p) => ({ ...p, name: names.get(p.device) ?? null })) };
  },
});

export const revokeDevice = defineCommand({
  name: 'device.revoke',
  summary: 'revoke a device: disconnected, its later events refused, its earlier ones kept',
  input: z.object({ device: z.string().min(1) }),
  preview: ({ core, lib }, { device }) => {
    const dev = resolveDevice(lib.db, device);
    if (dev === core.device.id) throw new SdError('E_REVOKE_SELF', 'a device cannot revoke itself');
    const row = lib.db.prepare('SELECT name, revoked_at FROM devices WHERE dev = ?').get(dev) as {
      name: string;
      revoked_at: number | null;
    };
    if (row.revoked_at) throw new SdError('E_ALREADY_REVOKED', `device "${row.name}" is already revoked`);
    const upTo = lib.log.headOf(dev).seq;
    return {
      summary: `revoke device "${row.name}" (${dev.slice(0, 8)})`,
      changes: [
        {
          op: 'revoke',
          target: `device "${row.name}"`,
          detail: `its ${upTo} events so far stay; later ones are refused`,
        },
      ],
      confirm: `Revoke device "${row.name}"?`,
      data: { dev, upTo },
    };
  },
  commit: ({ lib }, plan) =>
    lib.write(() => lib.append('device.revoked', { dev: plan.data!.dev, upTo: plan.data!.upTo })).seq,
  verify: ({ core, lib }, plan) => [
    check(
      !!(
        lib.db.prepare('SELECT revoked_at FROM devices WHERE dev = ?').get(plan.data!.dev) as {
          revoked_at: number | null;
        }
      ).revoked_at,
      'the device is revoked',
    ),
    check(!core.peers?.online(plan.data!.dev).online, 'the device is disconnected'),
  ],
});
