// Runs inside a network namespace made by test/sync/mdns.test.ts: two cores pair, forget each
// other's address, restart with mDNS on, and must find each other again by multicast.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { eventually } from '../support/until.js';

process.env.SD_MDNS = 'on';
const dirs = [mkdtempSync(join(tmpdir(), 'sd-mdns-a-')), mkdtempSync(join(tmpdir(), 'sd-mdns-b-'))];

try {
  let [a, b] = [await Core.open(dirs[0]!), await Core.open(dirs[1]!)];
  await a.startPeers('127.0.0.1', 0);
  await b.startPeers('127.0.0.1', 0);
  const lib = a.libraries.resolve().id;
  const inv = await a.command<{ code: string }>('pair.invite', {});
  await b.command('pair.join', { code: inv.result!.code });
  await a.close();
  await b.close();
  for (const d of dirs) rmSync(join(d, 'peers.json'), { force: true });
  [a, b] = [await Core.open(dirs[0]!), await Core.open(dirs[1]!)];
  await a.startPeers('127.0.0.1', 0);
  await b.startPeers('127.0.0.1', 0);
  const found = await eventually(() => a.peers!.online(b.device.id).online, 15_000);
  await a.command('tag.create', { name: 'found-by-mdns' }, { library: lib });
  const synced =
    found &&
    (await eventually(
      () => !!b.libraries.resolve(lib).db.prepare("SELECT 1 FROM tags WHERE name = 'found-by-mdns'").get(),
      10_000,
    ));
  process.stdout.write(`${JSON.stringify({ found, synced })}\n`);
  await a.close();
  await b.close();
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.exit(0);
