// A command knows its own events from its own appends: while an index job commits batch after
// batch, file commands running alongside still point their `command.verified` at their own first
// event, never at one of the job's.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import { toPath } from '../../src/projections/entries.js';
import { addLocation } from '../entry/helpers.js';
import { openCore, tempDir } from '../helpers.js';

test('commands running while an index job commits point command.verified at their own first event', async (t) => {
  const core = await openCore(t);
  const small = realpathSync(tempDir(t, 'sd-small-'));
  // A file whose copy is hashed and compared: the command awaits while the job goes on committing.
  writeFileSync(join(small, 'photo.raw'), randomBytes(4 << 20));
  const smallLoc = await addLocation(core, small);
  const big = realpathSync(tempDir(t, 'sd-big-'));
  generateTree(big, { files: 20_000, folders: 400, seed: 3, extras: false, sparseFiles: 0 });
  const job = (await core.command<{ job: string }>('location.add', { path: big, watch: false })).result!.job;
  const lib = core.libraries.resolve();
  const jobRunning = async (): Promise<boolean> =>
    (await core.query<{ id: string; state: string }[]>('job.list', {})).some(
      (j) => j.id === job && (j.state === 'running' || j.state === 'queued'),
    );
  let during = 0;
  for (let i = 0; i < 12; i++) {
    const running = await jobRunning();
    await core.command('entry.cp', { sources: [join(small, 'photo.raw')], dest: join(small, `copy-${i}.raw`) });
    if (running && (await jobRunning())) during++;
  }
  t.true(during >= 3, `only ${during} commands ran while the index job did`);
  const verified = lib.db.prepare("SELECT dev, seq, bytes FROM events WHERE type = 'command.verified'").all() as {
    dev: string;
    seq: number;
    bytes: Buffer;
  }[];
  const { decodeEvent } = await import('../../src/events/codec.js');
  let mkdirs = 0;
  for (const v of verified) {
    const body = decodeEvent(v.bytes).body as { command: string; refs: [string, number][] };
    if (body.command !== 'entry.cp') continue;
    mkdirs++;
    const [dev, seq] = body.refs[0]!;
    const ref = lib.log.get(dev, seq)!;
    const b = ref.body as { loc?: string; e?: [string][] };
    t.is(b.loc, smallLoc, `cp's command.verified points at ${ref.type} of another location`);
    t.true(
      b.e?.some(([k]) => toPath(k).startsWith('copy-')),
      `cp's event holds ${JSON.stringify(b.e?.slice(0, 2))}`,
    );
  }
  t.is(mkdirs, 12);
});
