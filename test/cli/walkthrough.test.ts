// The walkthrough a new user makes, through the real `sd` binary against real daemons: a headless
// node and two laptops (three data dirs on one machine). The laptops pair with the node and end up in
// its library; every device finds the files of all three; each is restarted and all reconnect with
// no `peer add`; with the node stopped, the two laptops still sync with each other (they learnt each
// other's addresses from the node and linked directly).
import test from 'ava';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { sd, sdJson, startDaemon, stopDaemon, until } from './helpers.js';

interface Hit {
  name: string;
  deviceName: string | null;
}
interface PeerRow {
  device: string;
  link: string | null;
}

const searchNames = (dir: string, q: string): string[] => {
  const r = sd(dir, ['--json', 'search', q]);
  if (r.code !== 0) return [];
  const v = JSON.parse(r.out) as Hit[] | { results: Hit[] };
  return (Array.isArray(v) ? v : v.results).map((h) => h.name).sort();
};
const linkedTo = (dir: string): string[] => {
  const r = sd(dir, ['--json', 'sync', 'status']);
  if (r.code !== 0) return [];
  return (JSON.parse(r.out) as { peers: PeerRow[] }).peers.filter((p) => p.link !== null).map((p) => p.device);
};
const deviceId = (t: Parameters<typeof sdJson>[0], dir: string): string =>
  sdJson<{ device: { id: string } }>(t, dir, ['status']).device.id;

test.serial(
  'two laptops and a headless node: pair into one library, find everything, reconnect, sync without the node',
  async (t) => {
    const dirs = { node: tempDir(t, 'sd-node-'), l1: tempDir(t, 'sd-l1-'), l2: tempDir(t, 'sd-l2-') };
    const files = {
      node: ['archive-2019.tar', 'server-backup.log'],
      l1: ['beach-walkthrough.jpg', 'passport-scan.pdf'],
      l2: ['thesis-draft.odt', 'budget-2027.ods'],
    };
    const roots: Record<string, string> = {};
    for (const [k, names] of Object.entries(files)) {
      const root = realpathSync(tempDir(t, `sd-files-${k}-`));
      mkdirSync(join(root, 'sub'));
      for (const n of names) writeFileSync(join(root, 'sub', n), `${k}:${n}`);
      roots[k] = root;
    }
    for (const k of ['node', 'l1', 'l2'] as const) startDaemon(t, dirs[k], ['--p2p-port', '0']);
    t.is(sd(dirs.node, ['location', 'add', roots.node!, '--wait']).code, 0);
    const ids = { node: deviceId(t, dirs.node), l1: deviceId(t, dirs.l1), l2: deviceId(t, dirs.l2) };

    // 1. Both laptops pair with the node and land in its library.
    for (const k of ['l1', 'l2'] as const) {
      const code = sdJson<{ result: { code: string } }>(t, dirs.node, ['pair', 'invite']).result.code;
      const joined = sd(dirs[k], ['pair', 'join', code]);
      t.is(joined.code, 0, joined.err);
      t.regex(joined.out, /current/i, `pair join says which library is current: ${joined.out}`);
      // The laptop's folder goes into the library it now shares (locations belong to a library).
      t.is(sd(dirs[k], ['location', 'add', roots[k]!, '--wait']).code, 0);
    }
    const everything = [...files.node, ...files.l1, ...files.l2].sort();
    // 2. Every device finds the files of all three, by name.
    for (const k of ['node', 'l1', 'l2'] as const)
      await until(
        `${k} finds every device's files`,
        () => everything.every((n) => searchNames(dirs[k], n).includes(n)),
        60_000,
      );
    // The laptops learnt each other's addresses from the node and linked directly.
    await until('l1 linked to l2 directly', () => linkedTo(dirs.l1).includes(ids.l2), 60_000);

    // 3. Every device restarts; all reconnect without `peer add` (remembered ports and addresses).
    for (const k of ['node', 'l1', 'l2'] as const) stopDaemon(dirs[k]);
    for (const k of ['node', 'l1', 'l2'] as const) startDaemon(t, dirs[k], ['--p2p-port', '0']);
    for (const [k, others] of [
      ['node', [ids.l1, ids.l2]],
      ['l1', [ids.node, ids.l2]],
      ['l2', [ids.node, ids.l1]],
    ] as const)
      await until(`${k} reconnected to both`, () => others.every((o) => linkedTo(dirs[k]).includes(o)), 60_000);

    // 4. The node goes away; the laptops still sync with each other.
    stopDaemon(dirs.node);
    t.is(sd(dirs.l1, ['tag', 'create', 'holiday-walk']).code, 0);
    t.is(sd(dirs.l1, ['tag', 'apply', 'holiday-walk', join(roots.l1!, 'sub', 'beach-walkthrough.jpg')]).code, 0);
    await until(
      'l2 sees the tag l1 applied while the node is down',
      () => {
        const r = sd(dirs.l2, ['--json', 'search', '--tag', 'holiday-walk']);
        return r.code === 0 && r.out.includes('beach-walkthrough.jpg');
      },
      30_000,
    );
    t.pass();
  },
);
