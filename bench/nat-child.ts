// One device of bench/nat.ts, run inside a network namespace (`ip netns exec NS node nat-child.js`):
// a real Core with its network on the namespace's address, driven by one JSON request per line on
// stdin and answering one JSON line on stdout. Entries are written through the real log (signed
// events in batches of 1,000 entries, as the indexer writes them), like bench/replicate.ts.
import { Core } from '../src/core.js';
import { serveLines } from './child-rpc.js';
import { SEP, type EntryTuple } from '../src/projections/entries.js';
import { newLocationId } from '../src/projections/rules.js';
import { parseIceServers } from '../src/sync/ice.js';

process.env.SD_MDNS = 'off';
let core: Core | undefined;

type Req = { op: string } & Record<string, unknown>;

const lib = () => core!.libraries.resolve();
const headsOf = (): string => JSON.stringify([...lib().log.heads()].sort());

async function handle(r: Req): Promise<unknown> {
  switch (r.op) {
    case 'open': {
      process.env.SD_P2P_HOST = String(r.ip);
      core = await Core.open(String(r.dir));
      await core.command('device.rename', { name: String(r.name) });
      const ice = r.ice as { servers: string; secret?: string; share?: boolean } | undefined;
      const net = await core.startPeers(String(r.ip), Number(r.port ?? 0), {
        webrtc: r.webrtc === 'off' ? 'off' : 'auto',
        ice: ice ? { servers: parseIceServers(ice.servers), secret: ice.secret, share: !!ice.share } : undefined,
      });
      return { id: core.device.id, port: net.port };
    }
    case 'invite':
      return { code: (await core!.command<{ code: string }>('pair.invite', {})).result!.code };
    case 'join':
      await core!.command('pair.join', { code: String(r.code) });
      return {};
    case 'dial':
      await core!.command('peer.add', { address: String(r.address) });
      return {};
    case 'fill': {
      // A location of `n` files in 1,000 folders, appended as the indexer does.
      const l = lib();
      const loc = newLocationId(core!.device.id);
      const n = Number(r.n);
      const t0 = performance.now();
      l.write(() => l.append('location.added', { id: loc, path: `/bench/${loc}`, name: loc, watch: false, rules: {} }));
      const rows: EntryTuple[] = [];
      for (let d = 0; d < 1000; d++) rows.push([`d${d}`, 1, 0, 1.7e12, n + 10 + d, 'folder']);
      for (let i = 0; i < n; i++) rows.push([`d${i % 1000}${SEP}file-${i}.txt`, 0, i, 1.7e12 + i, i + 10, 'text']);
      rows.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      for (let i = 0; i < rows.length; i += 1000)
        l.write(() => l.append('entries.upserted', { loc, e: rows.slice(i, i + 1000) }));
      l.flush();
      return { loc, entries: rows.length, ms: performance.now() - t0 };
    }
    case 'count': {
      const row = lib().db.prepare('SELECT COUNT(*) AS n FROM entries WHERE loc = ?').get(String(r.loc));
      return { n: (row as { n: number }).n };
    }
    case 'heads':
      return { heads: headsOf() };
    case 'path': {
      const o = core!.peers!.online(String(r.dev));
      return { online: !!o.online, path: o.path ?? null };
    }
    case 'actor': {
      // The peer actor's state, for a reader of a slow or failed run.
      const child = core!.services!.network.getSnapshot().children[`peer:${String(r.dev)}`];
      const snap = child?.getSnapshot() as
        { value: unknown; context: { addresses: unknown[]; lastError: unknown; attempts: number } } | undefined;
      return snap
        ? {
            state: snap.value,
            addresses: snap.context.addresses,
            lastError: snap.context.lastError,
            attempts: snap.context.attempts,
          }
        : { state: null };
    }
    case 'tag':
      await core!.command('tag.create', { name: String(r.name) });
      return {};
    case 'hasTag':
      return { has: !!lib().db.prepare('SELECT 1 FROM tags WHERE name = ?').get(String(r.name)) };
    case 'partition':
      core!.peers!.partition();
      return {};
    case 'heal':
      core!.peers!.heal();
      return {};
    case 'close':
      await core?.close();
      core = undefined;
      return {};
    default:
      throw new Error(`unknown op ${r.op}`);
  }
}

serveLines(handle, async () => core?.close());
