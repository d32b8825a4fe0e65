import test from 'ava';
import { openCore, tempDir } from '../helpers.js';
import { Core } from '../../src/core.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { defineQuery, type QueryDef } from '../../src/ops/define.js';
import { registerQuery } from '../../src/ops/registry.js';

test('first start creates the device key (0600) and a library named default', async (t) => {
  const dir = tempDir(t);
  const old = process.umask(0);
  let core: Core;
  try {
    core = await openCore(t, dir);
  } finally {
    process.umask(old);
  }
  t.is(statSync(join(dir, 'device.key')).mode & 0o777, 0o600);
  t.is(statSync(dir).mode & 0o777, 0o700);
  const libs = await core.query<{ name: string; current: boolean }[]>('library.list', {});
  t.deepEqual(
    libs.map((l) => [l.name, l.current]),
    [['default', true]],
  );
  const dbPath = core.libraries.resolve().path;
  t.is(statSync(dbPath).mode & 0o777, 0o600);
});

test('replay after a series of commands gives equal checksums', async (t) => {
  const core = await openCore(t);
  await core.command('library.rename', { name: 'home' });
  await core.command('device.rename', { name: 'laptop' });
  await core.command('library.create', { name: 'work' });
  await core.command('library.rename', { name: 'office' }, { library: 'work' });
  await core.command('device.rename', { name: 'laptop-2' });
  for (const lib of ['home', 'office']) {
    const r = await core.query<{ equal: boolean; events: number; live: { total: string }; rebuilt: { total: string } }>(
      'replay.check',
      {},
      { library: lib },
    );
    t.true(r.equal, lib);
    t.is(r.live.total, r.rebuilt.total);
    t.true(r.events >= 3);
  }
});

test('replay notices a projection that drifted from the log', async (t) => {
  const core = await openCore(t);
  await core.command('library.rename', { name: 'home' });
  core.libraries.resolve().db.prepare("UPDATE library_meta SET value = 'tampered' WHERE key = 'name'").run();
  const r = await core.query<{ equal: boolean; differing: string[] }>('replay.check', {});
  t.false(r.equal);
  t.deepEqual(r.differing, ['library_meta']);
});

test('a query runs on a read-only connection: a query that writes fails', async (t) => {
  const core = await openCore(t);
  registerQuery(
    defineQuery({
      name: 'test.sneakyWrite',
      summary: 'a query that tries to write',
      input: z.object({}),
      run: ({ db }) => db.prepare("UPDATE library_meta SET value = 'x' WHERE key = 'name'").run().changes,
    }) as QueryDef,
  );
  const err = await core.query('test.sneakyWrite', {}).then(
    () => undefined,
    (e: { code?: string }) => e,
  );
  t.is(err?.code, 'SQLITE_READONLY');
  t.is(core.libraries.resolve().name, 'default');
});

test('bad input returns a code and changes nothing', async (t) => {
  const core = await openCore(t);
  const before = core.libraries.resolve().log.count();
  await t.throwsAsync(core.command('library.rename', { name: '' }), { code: 'E_BAD_INPUT' } as never);
  await t.throwsAsync(core.command('library.rename', { nom: 'x' }), { code: 'E_BAD_INPUT' } as never);
  await t.throwsAsync(core.command('no.such', {}), { code: 'E_UNKNOWN_COMMAND' } as never);
  await t.throwsAsync(core.query('log.list', { limit: -1 }), { code: 'E_BAD_INPUT' } as never);
  t.is(core.libraries.resolve().log.count(), before);
});

test('dry run previews and changes nothing; a stale fingerprint is refused', async (t) => {
  const core = await openCore(t);
  const dry = await core.command('library.rename', { name: 'home' }, { dryRun: true });
  t.false(dry.committed);
  t.is(core.libraries.resolve().name, 'default');
  await core.command('library.rename', { name: 'elsewhere' });
  await t.throwsAsync(core.command('library.rename', { name: 'home' }, { fingerprint: dry.plan.fingerprint }), {
    code: 'E_STALE_PLAN',
  } as never);
  t.is(core.libraries.resolve().name, 'elsewhere');
});

test('delete needs confirmation, refuses the last library, and audits verify', async (t) => {
  const core = await openCore(t);
  await t.throwsAsync(core.command('library.delete', { ref: 'default' }, { yes: true }), {
    code: 'E_LAST_LIBRARY',
  } as never);
  await core.command('library.create', { name: 'scratch' });
  await t.throwsAsync(core.command('library.delete', { ref: 'scratch' }), { code: 'E_CONFIRMATION_REQUIRED' } as never);
  t.truthy(core.libraries.findByName('scratch'));
  const out = await core.command('library.delete', { ref: 'scratch' }, { yes: true });
  t.true(out.verify!.ok);
  t.falsy(core.libraries.findByName('scratch'));
  const log = await core.query<{ type: string; verified: boolean | null }[]>('log.list', { type: 'library' });
  t.true(log.some((r) => r.type === 'library.created'));
});

test('sd log filters by type, device and since, and shows verify results', async (t) => {
  const core = await openCore(t);
  await core.command('library.rename', { name: 'a' });
  await core.command('device.rename', { name: 'box' });
  const renamed = await core.query<{ type: string; verified: boolean | null; deviceName: string }[]>('log.list', {
    type: 'library.renamed',
  });
  t.is(renamed.length, 1);
  t.is(renamed[0]!.verified, true);
  t.is(renamed[0]!.deviceName, 'box');
  const mine = await core.query<unknown[]>('log.list', { device: 'box' });
  t.is(mine.length, 6);
  const future = await core.query<unknown[]>('log.list', { since: '2999-01-01' });
  t.is(future.length, 0);
  await t.throwsAsync(core.query('log.list', { since: 'yesterday-ish' }), { code: 'E_BAD_INPUT' } as never);
  await t.throwsAsync(core.query('log.list', { device: 'nobody' }), { code: 'E_DEVICE_NOT_FOUND' } as never);
});

test('the data survives a close and reopen', async (t) => {
  const dir = tempDir(t);
  const a = await Core.open(dir);
  await a.command('library.rename', { name: 'kept' });
  const id = a.device.id;
  await a.close();
  const b = await openCore(t, dir);
  t.is(b.device.id, id);
  t.is(b.libraries.resolve().name, 'kept');
  await b.command('library.rename', { name: 'kept-2' });
  const v = await b.query<{ ok: boolean; events: number }>('log.verify', {});
  t.true(v.ok);
  t.is(v.events, 6);
});
