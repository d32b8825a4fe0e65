// kill -9 of a daemon in the middle of shared-metadata changes (Automerge documents saved by
// automerge-repo, each change also a signed event): reopened, the log verifies, a replay of the
// log gives the same projections (tags included), and the documents take new changes.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Core } from '../../src/core.js';
import { onLines } from '../fixtures-child/util.js';
import { tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('../fixtures-child/tagger-child.js', import.meta.url));

test('kill -9 during Automerge changes: the log verifies, replay matches the tag projection, and tagging goes on', async (t) => {
  const data = tempDir(t);
  const child = spawn(process.execPath, [CHILD, data], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<string | null>((r) => child.on('exit', (_c, signal) => r(signal)));
  let done = 0;
  onLines(child.stdout, (l) => {
    done = (JSON.parse(l) as { done: number }).done;
    if (done >= 150 && child.signalCode === null) child.kill('SIGKILL');
  });
  t.is(await exited, 'SIGKILL', stderr);

  const core = await Core.open(data, { services: false });
  t.teardown(() => core.close());
  t.true((await core.query<{ ok: boolean }>('log.verify', {})).ok);
  const replay = await core.query<{ equal: boolean; differing: unknown }>('replay.check', {});
  t.true(replay.equal, JSON.stringify(replay.differing));
  const tags = await core.query<{ name: string }[]>('tag.list', {});
  // Every committed command is there; the one cut short is there whole or not at all.
  t.true(tags.length >= done && tags.length <= done + 1, `${tags.length} tags, ${done} commands reported`);
  t.is(new Set(tags.map((x) => x.name)).size, tags.length);
  await core.command('tag.create', { name: 'after-the-crash' });
  t.true((await core.query<{ name: string }[]>('tag.list', {})).some((x) => x.name === 'after-the-crash'));
  t.true((await core.query<{ equal: boolean }>('replay.check', {})).equal);
});
