// The commit of a pull is a job: pause keeps what is verified and resume goes on from there; a
// restart of the receiving daemon resumes it from its last verified chunk; cancel leaves nothing
// behind (no file at the destination, no partial copy).
import test from 'ava';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { CHUNK } from '../../src/transfer/protocol.js';
import { dataDirOf, indexed, pair, until, waitJob, type JobView } from './helpers.js';

const visible = (dir: string): string[] => readdirSync(dir).filter((n) => !n.startsWith('.'));
const info = (c: Core, lib: string, id: string): Promise<JobView> =>
  c.query<JobView>('job.info', { ref: id }, { library: lib });

test.serial(
  'pause, resume, and a restart of the receiver: the pull goes on from its last verified chunk',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const size = 32 * CHUNK + 9;
    const data = randomBytes(size);
    writeFileSync(join(ra, 'disk.img'), data);
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb);
    a.transfers!.setLimit(8 * CHUNK);
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [join(ra, 'disk.img')], dest: rb },
      { library: lib },
    );
    const id = out.result!.job;
    await until('a fifth arrived', async () => (await info(b, lib, id)).done >= size / 5);
    await b.command('job.pause', { ref: id }, { library: lib });
    await until('paused', async () => (await info(b, lib, id)).state === 'paused');
    const atPause = (await info(b, lib, id)).done;
    t.deepEqual(visible(rb), [], 'nothing is visible while paused');
    await b.command('job.resume', { ref: id }, { library: lib });
    await until('half arrived', async () => (await info(b, lib, id)).done >= size / 2);
    t.true((await info(b, lib, id)).done >= atPause);

    // The receiving daemon stops (the job is paused for the shutdown) and starts again.
    const dir = dataDirOf.get(b)!;
    await b.close();
    const b2 = await Core.open(dir);
    t.teardown(() => b2.close());
    await b2.startPeers('127.0.0.1', 0);
    const j = await waitJob(b2, lib, id, 120_000);
    t.is(j.state, 'completed', j.message ?? '');
    t.true(readFileSync(join(rb, 'disk.img')).equals(data));
    const log = await b2.query<{ summary: string }[]>('log.list', { type: 'transfer' }, { library: lib });
    const over = Number(/; (\d+) bytes over the link/.exec(log[0]!.summary)?.[1]);
    t.true(over >= size && over <= size + 8 * CHUNK, `${over} bytes over the link for ${size}`);
  },
);

test.serial('cancel: nothing at the destination and no partial copy left', async (t) => {
  const { a, b, lib, ra, rb } = await pair(t);
  writeFileSync(join(ra, 'big.bin'), randomBytes(24 * CHUNK));
  await indexed(a, b, lib, ra);
  await indexed(b, a, lib, rb);
  a.transfers!.setLimit(8 * CHUNK);
  const out = await b.command<{ job: string }>(
    'transfer.pull',
    { device: 'alpha', sources: [join(ra, 'big.bin')], dest: rb },
    { library: lib },
  );
  const id = out.result!.job;
  await until('some arrived', async () => (await info(b, lib, id)).done >= 2 * CHUNK);
  t.true(existsSync(join(rb, '.vdfs-partial', id)));
  await b.command('job.cancel', { ref: id }, { library: lib, yes: true });
  const j = await waitJob(b, lib, id);
  t.is(j.state, 'cancelled');
  await until('the partial copy is gone', () => !existsSync(join(rb, '.vdfs-partial', id)), 10_000);
  t.deepEqual(visible(rb), []);
});
