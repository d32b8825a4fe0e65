// Encryption at rest: a known file name and tag never appear in the database file's bytes,
// a wrong passphrase is refused, and the library reopens with the right one.
import test from 'ava';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { tempDir } from '../helpers.js';

async function waitJobs(core: Core, library: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const jobs = await core.query<{ state: string }[]>('job.list', {}, { library });
    if (jobs.length && jobs.every((j) => ['completed', 'failed', 'cancelled'].includes(j.state))) return;
    if (Date.now() > end) throw new Error('jobs did not finish');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an encrypted library keeps names and tags out of the file bytes; wrong passphrase refused', async (t) => {
  const dir = tempDir(t);
  const files = join(tempDir(t), 'docs');
  mkdirSync(files);
  writeFileSync(join(files, 'zebra-secret-plans.txt'), 'the content of a secret file');
  const core = await Core.open(dir);
  let closed = false;
  t.teardown(() => (closed ? undefined : core.close()));
  const created = await core.command<{ id: string }>('library.create', {
    name: 'vault',
    encrypt: true,
    passphrase: 'correct horse battery',
  });
  t.is(JSON.stringify(created.plan.input).includes('correct horse'), false, 'the passphrase never comes back');
  const lib = 'vault';
  await core.command('location.add', { path: files, watch: false }, { library: lib });
  await waitJobs(core, lib);
  await core.command('tag.create', { name: 'flamingo-tag' }, { library: lib });
  await core.command(
    'tag.apply',
    { tag: 'flamingo-tag', paths: [join(files, 'zebra-secret-plans.txt')] },
    { library: lib },
  );
  const r = await core.query<{ equal: boolean }>('replay.check', {}, { library: lib });
  t.true(r.equal);
  await core.close();
  closed = true;
  const libDir = join(dir, 'libraries');
  const dbFile = readdirSync(libDir).find((f) => f === `${created.result!.id}.db`)!;
  for (const f of readdirSync(libDir).filter((x) => x.startsWith(created.result!.id) && !x.endsWith('.keyinfo'))) {
    const bytes = readFileSync(join(libDir, f));
    t.false(bytes.includes('zebra-secret-plans'), `${f} holds the file name`);
    t.false(bytes.includes('flamingo-tag'), `${f} holds the tag`);
  }
  t.truthy(dbFile);
  // Without the passphrase the library is locked; a wrong one is refused; the right one opens it.
  const again = await Core.open(dir);
  t.teardown(() => again.close());
  await t.throwsAsync(again.query('tag.list', {}, { library: lib }), { code: 'E_LIBRARY_LOCKED' } as never);
  await t.throwsAsync(again.command('library.unlock', { ref: lib, passphrase: 'wrong passphrase!' }), {
    code: 'E_BAD_PASSPHRASE',
  } as never);
  const list = await again.query<{ name: string; locked: boolean }[]>('library.list', {});
  t.true(list.find((l) => l.name === 'vault')!.locked);
  await again.command('library.unlock', { ref: lib, passphrase: 'correct horse battery' });
  const tags = await again.query<{ name: string }[]>('tag.list', {}, { library: lib });
  t.deepEqual(
    tags.map((x) => x.name),
    ['flamingo-tag'],
  );
  const v = await again.query<{ ok: boolean }>('log.verify', {}, { library: lib });
  t.true(v.ok);
});
