// Three daemons' cores on loopback (separate data dirs and ports): pair, index on each,
// browse and search each other's files, tag concurrently while partitioned, heal, and end with
// equal projection checksums and verified logs. C pairs through B only, so A's feed reaches C
// relayed by B.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { checksums } from '../../src/projections/index.js';
import { tempDir } from '../helpers.js';
import { until } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';

async function node(t: Parameters<typeof tempDir>[0], name: string, webrtc: boolean): Promise<Core> {
  const core = await Core.open(tempDir(t));
  t.teardown(() => core.close());
  await core.command('device.rename', { name });
  await core.startPeers('127.0.0.1', 0, { webrtc });
  return core;
}

function tree(t: Parameters<typeof tempDir>[0], tag: string): string {
  const root = join(tempDir(t), tag);
  mkdirSync(join(root, 'docs'), { recursive: true });
  writeFileSync(join(root, 'docs', `${tag}-report.txt`), `report of ${tag}`);
  writeFileSync(join(root, 'docs', 'shared-readme.md'), 'the same content on every device');
  writeFileSync(join(root, `${tag}-photo.jpg`), Buffer.alloc(2000, tag.charCodeAt(0)));
  return root;
}

async function indexed(core: Core, lib: string, path: string): Promise<void> {
  await core.command('location.add', { path, watch: false }, { library: lib });
  await until(
    `${core.device.name} indexed`,
    async () => {
      const jobs = await core.query<{ state: string }[]>('job.list', {}, { library: lib });
      return jobs.length > 0 && jobs.every((j) => j.state === 'completed');
    },
    30_000,
  );
}

const heads = (c: Core, lib: string): string => JSON.stringify([...c.libraries.resolve(lib).log.heads()].sort());

for (const kind of ['lan-ws', 'webrtc'] as const)
  test(`three devices pair, browse and search each other, merge concurrent edits, and converge (${kind})`, async (t) => {
    const webrtc = kind === 'webrtc';
    const [a, b, c] = [
      await node(t, 'alpha', webrtc),
      await node(t, 'bravo', webrtc),
      await node(t, 'charlie', webrtc),
    ];
    await a.command('library.rename', { name: 'family' });
    const lib = a.libraries.resolve().id;
    const inviteB = await a.command<{ code: string }>('pair.invite', {});
    const joinedB = await b.command<{ libraryName: string; inviterName: string }>('pair.join', {
      code: inviteB.result!.code,
    });
    t.is(joinedB.result!.inviterName, 'alpha');
    await until('B has the library history', () => b.libraries.resolve(lib).name === 'family', 30_000);
    await b.libraries.resolve(lib).sharedOpening;
    // Only the creator and its admins add devices: B may invite C once A made it an admin.
    await t.throwsAsync(b.command('pair.invite', {}, { library: lib }), { code: 'E_NOT_ADMIN' } as never);
    await a.command('device.role', { device: b.device.id, role: 'admin' });
    await until(
      'B knows it is an admin',
      () => {
        const r = b.libraries.resolve(lib).db.prepare('SELECT role FROM devices WHERE dev = ?').get(b.device.id);
        return (r as { role?: string } | undefined)?.role === 'admin';
      },
      30_000,
    );
    const inviteC = await b.command<{ code: string }>('pair.invite', {}, { library: lib });
    await c.command('pair.join', { code: inviteC.result!.code });
    await until(
      'C has A history through B',
      () => c.libraries.resolve(lib).name === 'family' && heads(c, lib) === heads(a, lib),
      30_000,
    );
    await c.libraries.resolve(lib).sharedOpening;
    // A wrong and a reused code are refused.
    await t.throwsAsync(c.command('pair.join', { code: inviteC.result!.code }), { code: 'E_ALREADY_PAIRED' } as never);

    const roots = { a: tree(t, 'alpha'), b: tree(t, 'bravo'), c: tree(t, 'charlie') };
    await indexed(a, lib, roots.a);
    await indexed(b, lib, roots.b);
    await indexed(c, lib, roots.c);
    await until(
      'all feeds everywhere',
      () => heads(a, lib) === heads(b, lib) && heads(b, lib) === heads(c, lib),
      30_000,
    );
    // Each link comes up (or moves to WebRTC) on its own: A's to B is the one device.list shows below.
    await until(
      `links are ${kind}`,
      () =>
        [a, c].every((x) => x.peers!.status().peers.some((p) => p.link === kind)) &&
        a.peers!.status().peers.some((p) => p.device === b.device.id && p.link === kind),
      60_000,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}: ${JSON.stringify([a, b, c].map((x) => ({ refusals: x.peers!.status().refusals, links: x.peers!.status().peers.map((p) => [p.link, p.state, p.lastError]) })))}`,
      );
    });
    const dl = await a.query<{ name: string; link: string | null; online: boolean }[]>(
      'device.list',
      {},
      { library: lib },
    );
    t.is(dl.find((d) => d.name === 'bravo')!.link, kind);

    // Browse and search the others' files from A.
    const ls = await a.query<{ entries: { name: string }[] }>(
      'entry.ls',
      { path: join(roots.c, 'docs'), device: 'charlie' },
      { library: lib },
    );
    t.deepEqual(ls.entries.map((e) => e.name).sort(), ['charlie-report.txt', 'shared-readme.md']);
    const found = await a.query<{ name: string; deviceName: string }[]>(
      'search',
      { query: 'report' },
      { library: lib },
    );
    t.deepEqual(found.map((f) => f.deviceName).sort(), ['alpha', 'bravo', 'charlie']);
    const info = await c.query<{ copies: unknown[]; contentId: string }>(
      'entry.info',
      { path: join(roots.a, 'docs', 'shared-readme.md'), device: 'alpha' },
      { library: lib },
    );
    t.is(info.copies.length, 2, 'the same content on the two other devices');

    // Partition, then edit concurrently.
    await a.command('tag.create', { name: 'todo' }, { library: lib });
    await until(
      'tag everywhere',
      () => [b, c].every((x) => !!x.libraries.resolve(lib).db.prepare("SELECT 1 FROM tags WHERE name = 'todo'").get()),
      30_000,
    );
    for (const x of [a, b, c]) x.peers!.partition();
    await until(
      'partitioned',
      () => [a, b, c].every((x) => x.peers!.status().peers.every((p) => p.link === null)),
      30_000,
    );
    const readme = (root: string): string => join(root, 'docs', 'shared-readme.md');
    await a.command('tag.create', { name: 'from-alpha' }, { library: lib });
    await a.command('tag.apply', { tag: 'from-alpha', paths: [readme(roots.a)] }, { library: lib });
    await b.command('tag.create', { name: 'from-bravo' }, { library: lib });
    await b.command('tag.apply', { tag: 'from-bravo', paths: [readme(roots.a)], device: 'alpha' }, { library: lib });
    await a.command('tag.rename', { tag: 'todo', name: 'todo-a' }, { library: lib });
    await c.command('tag.rename', { tag: 'todo', name: 'todo-c' }, { library: lib });
    t.not(heads(a, lib), heads(b, lib));
    for (const x of [a, b, c]) x.peers!.heal();
    await until('converged', () => heads(a, lib) === heads(b, lib) && heads(b, lib) === heads(c, lib), 60_000);
    await until(
      'equal checksums',
      () => {
        const sums = [a, b, c].map((x) => checksums(x.libraries.resolve(lib).db).total);
        return sums[0] === sums[1] && sums[1] === sums[2];
      },
      30_000,
    );
    for (const x of [a, b, c]) {
      const tags = await x.query<{ tags: string[] }>(
        'entry.info',
        { path: readme(roots.a), device: 'alpha' },
        { library: lib },
      );
      t.deepEqual(tags.tags, ['from-alpha', 'from-bravo'], `${x.device.name} keeps both tags`);
      const v = await x.query<{ ok: boolean; devices: number }>('log.verify', {}, { library: lib });
      t.true(v.ok, `${x.device.name} log verifies`);
      t.is(v.devices, 3);
      const r = await x.query<{ equal: boolean }>('replay.check', {}, { library: lib });
      t.true(r.equal, `${x.device.name} replay equal`);
    }
    const names = [a, b, c].map(
      (x) =>
        (
          x.libraries.resolve(lib).db.prepare('SELECT name FROM tags WHERE name LIKE ?').get('todo-%') as {
            name: string;
          }
        ).name,
    );
    t.is(new Set(names).size, 1, `one deterministic winner: ${names.join(', ')}`);

    // Revoke C: its link drops and its later events are refused; its earlier ones stay.
    const cId = c.device.id;
    const before = a.libraries.resolve(lib).log.headOf(cId).seq;
    await a.command('device.revoke', { device: 'charlie' }, { library: lib, yes: true });
    await until('C disconnected from A', () => !a.peers!.online(cId).online, 30_000);
    await until(
      'B learns the revocation',
      () =>
        !!b.libraries
          .resolve(lib)
          .db.prepare('SELECT revoked_at FROM devices WHERE dev = ? AND revoked_at IS NOT NULL')
          .get(cId),
      30_000,
    );
    await until('C dropped by B', () => !b.peers!.online(cId).online, 30_000);
    await c.command('tag.create', { name: 'after-revoke' }, { library: lib });
    await new Promise((r) => setTimeout(r, 1000));
    t.is(a.libraries.resolve(lib).log.headOf(cId).seq, before, 'nothing after the revocation reached A');
    t.truthy(a.libraries.resolve(lib).log.get(cId, 1), 'earlier events stay in the history');
  });
