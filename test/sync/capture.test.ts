// A capture of the wire: two daemons' cores pair and sync through a TCP proxy that records every
// byte both ways. No file name, path, tag, note, library name or device name may appear in it.
// The proxy then flips a byte in, drops, and replays a frame from A to B: each closes the link
// with its own code on B, and the daemons reconnect through the proxy and converge.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { decodeCode, encodeCode } from '../../src/sync/pairing.js';
import { setCleartextLinksForBench } from '../../src/transport/secure.js';
import { tempDir } from '../helpers.js';
import { startProxy } from '../support/tcp-proxy.js';
import { until } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';

const heads = (c: Core, lib: string): string => JSON.stringify([...c.libraries.resolve(lib).log.heads()].sort());

test('the wire shows no names, and a flipped, dropped or replayed frame closes the link with its code; the daemons reconnect and converge', async (t) => {
  // Every byte must cross the proxy: the devices do not learn each other's direct addresses.
  const a = await Core.open(tempDir(t), { network: { learnAddresses: false } });
  const b = await Core.open(tempDir(t), { network: { learnAddresses: false } });
  t.teardown(async () => {
    setCleartextLinksForBench(false);
    await a.close();
    await b.close();
  });
  await a.command('device.rename', { name: 'alpha-laptop-q7' });
  await b.command('device.rename', { name: 'bravo-phone-k3' });
  await a.command('library.rename', { name: 'secret-family-archive' });
  const lib = a.libraries.resolve().id;
  const root = join(tempDir(t), 'holiday-vault-7f3a');
  mkdirSync(join(root, 'passports'), { recursive: true });
  writeFileSync(join(root, 'passports', 'passport-scan-9q2w.pdf'), 'scan');
  writeFileSync(join(root, 'tax-return-2026-zz.txt'), 'numbers');
  await a.command('location.add', { path: root, watch: false });
  await until(
    'A indexed',
    async () => {
      const jobs = await a.query<{ state: string }[]>('job.list', {});
      return jobs.length > 0 && jobs.every((j) => j.state === 'completed');
    },
    30_000,
  );
  await a.command('tag.create', { name: 'confidential-tag-k8m' });
  const tax = join(root, 'tax-return-2026-zz.txt');
  await a.command('tag.apply', { tag: 'confidential-tag-k8m', paths: [tax] });
  await a.command('note.set', { path: tax, text: 'note-meet-at-dawn-x1' });

  await a.startPeers('127.0.0.1', 0);
  await b.startPeers('127.0.0.1', 0);
  const proxy = await startProxy(a.peers!.port!);
  t.teardown(() => proxy.close());
  // B pairs with A through the proxy, and remembers that address for every reconnect.
  const code = decodeCode((await a.command<{ code: string }>('pair.invite', {})).result!.code);
  await b.command('pair.join', { code: encodeCode({ ...code, port: proxy.port }) });
  const lb = (): ReturnType<Core['libraries']['resolve']> => b.libraries.resolve(lib);
  await until(
    'B has the index, the tag and the note',
    () => {
      if (heads(a, lib) !== heads(b, lib)) return false;
      const db = lb().db;
      return (
        !!db.prepare("SELECT 1 FROM entries WHERE name = 'passport-scan-9q2w.pdf'").get() &&
        !!db.prepare("SELECT 1 FROM tags WHERE name = 'confidential-tag-k8m'").get() &&
        !!db.prepare("SELECT 1 FROM notes WHERE text = 'note-meet-at-dawn-x1'").get()
      );
    },
    30_000,
  );
  t.is(lb().name, 'secret-family-archive');

  const wire = (): Buffer => Buffer.concat(proxy.captured);
  const secrets = [
    'passport-scan-9q2w',
    'tax-return-2026-zz',
    'holiday-vault-7f3a',
    root,
    'confidential-tag-k8m',
    'note-meet-at-dawn-x1',
    'secret-family-archive',
    'alpha-laptop-q7',
    'bravo-phone-k3',
  ];
  const captured = wire();
  t.true(captured.length > 10_000, `${captured.length} bytes captured`);
  for (const s of secrets) t.is(captured.indexOf(s), -1, `"${s}" is not on the wire`);

  // Tampering, each on a frame from A to B: B detects it, closes with the code, and reconnects.
  for (const [fault, code] of [
    ['flip', 'E_FRAME_TAMPERED'],
    ['drop', 'E_FRAME_MISSING'],
    ['replay', 'E_FRAME_REPLAYED'],
  ] as const) {
    const applied = proxy.arm(fault);
    await a.command('tag.create', { name: `after-${fault}` });
    await applied;
    await until(`B refused the ${fault}ed frame`, () => (b.peers!.status().refusals[code] ?? 0) === 1, 30_000);
    await until(
      `B reconnected and has after-${fault}`,
      () => {
        const p = b.peers!.status().peers.find((x) => x.device === a.device.id);
        return (
          p?.link === 'lan-ws' &&
          heads(a, lib) === heads(b, lib) &&
          !!lb().db.prepare('SELECT 1 FROM tags WHERE name = ?').get(`after-${fault}`)
        );
      },
      30_000,
    );
  }
  t.like(b.peers!.status().refusals, { E_FRAME_TAMPERED: 1, E_FRAME_MISSING: 1, E_FRAME_REPLAYED: 1 });
  t.true(proxy.connections >= 4, `${proxy.connections} connections through the proxy`);
  for (const c of [a, b]) t.true((await c.query<{ ok: boolean }>('log.verify', {}, { library: lib })).ok);

  // The control: the same capture with records left unencrypted (a bench-only switch) does show
  // names, so the search above could have found them.
  setCleartextLinksForBench(true);
  const from = proxy.captured.length;
  for (const x of [a, b]) x.peers!.partition();
  for (const x of [a, b]) x.peers!.heal();
  await a.command('library.rename', { name: 'control-name-visible' });
  await until('B has the control rename', () => lb().name === 'control-name-visible', 30_000);
  t.true(Buffer.concat(proxy.captured.slice(from)).indexOf('control-name-visible') >= 0);
});
