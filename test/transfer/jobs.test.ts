// The commit of a pull is a job: pause keeps what is verified and resume goes on from there; a
// restart of the receiving daemon resumes it from its last verified chunk; cancel leaves nothing
// behind (no file at the destination, no partial copy).
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core } from '../../src/core.js';
import { CHUNK } from '../../src/transfer/protocol.js';
import { dataDirOf, jobInfo, slowPull, until, visible, waitJob } from './helpers.js';

test.serial(
  'pause, resume, and a restart of the receiver: the pull goes on from its last verified chunk',
  async (t) => {
    const size = 32 * CHUNK + 9;
    const { a, b, lib, rb, id, data } = await slowPull(t, 'disk.img', size);
    await until('a fifth arrived', async () => (await jobInfo(b, lib, id)).done >= size / 5);
    await b.command('job.pause', { ref: id }, { library: lib });
    await until('paused', async () => (await jobInfo(b, lib, id)).state === 'paused');
    const atPause = (await jobInfo(b, lib, id)).done;
    t.deepEqual(visible(rb), [], 'nothing is visible while paused');
    await b.command('job.resume', { ref: id }, { library: lib });
    await until('half arrived', async () => (await jobInfo(b, lib, id)).done >= size / 2);
    t.true((await jobInfo(b, lib, id)).done >= atPause);

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
  const { b, lib, rb, id } = await slowPull(t, 'big.bin', 24 * CHUNK);
  await until('some arrived', async () => (await jobInfo(b, lib, id)).done >= 2 * CHUNK);
  t.true(existsSync(join(rb, '.vdfs-partial', id)));
  await b.command('job.cancel', { ref: id }, { library: lib, yes: true });
  const j = await waitJob(b, lib, id);
  t.is(j.state, 'cancelled');
  await until('the partial copy is gone', () => !existsSync(join(rb, '.vdfs-partial', id)), 10_000);
  t.deepEqual(visible(rb), []);
});
