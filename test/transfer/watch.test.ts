// A pull into a watched location: the location's watcher holds off the transfer's temporary folder
// and the items it places, so the index holds exactly what the transfer recorded (no temporary
// names, no rescan racing the transfer's own events). The location indexes hidden names too, so a
// watcher that looked would see the partial files being written.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import type { Core } from '../../src/core.js';
import { indexed, pair, until, waitJob } from './helpers.js';

interface Ls {
  entries: { name: string; path: string; isDir: boolean }[];
}
interface LogRow {
  type: string;
  summary: string;
  device: string;
  seq: number;
}

/** Every path under `root` in B's index (`sd ls`, folder by folder), relative to it. */
async function indexedUnder(core: Core, lib: string, root: string): Promise<string[]> {
  const out: string[] = [];
  const dirs = [root];
  for (let n = 0; dirs.length && n < 10_000; n++) {
    const dir = dirs.pop()!;
    const ls = await core.query<Ls>('entry.ls', { path: dir }, { library: lib });
    for (const e of ls.entries) {
      out.push(relative(root, e.path));
      if (e.isDir) dirs.push(e.path);
    }
  }
  return out.sort();
}

test.serial(
  'a pull into a watched location: the index holds what the transfer recorded, no temporary name',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const expected: string[] = ['album'];
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(ra, 'album', `d${d}`), { recursive: true });
      expected.push(`album/d${d}`);
      for (let i = 0; i < 40; i++) {
        writeFileSync(join(ra, 'album', `d${d}`, `p${i}.jpg`), randomBytes(16_384));
        expected.push(`album/d${d}/p${i}.jpg`);
      }
    }
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb, { watch: true, skipHidden: false });
    t.true(
      b.jobs.isWatching(
        (await b.query<{ id: string; path: string }[]>('location.list', {}, { library: lib })).find(
          (l) => l.path === rb,
        )!.id,
      ),
    );
    // About 2.5 s of writing into the partial folder: many quiet periods of the watcher.
    a.transfers!.setLimit(1024 * 1024);
    const before = (await b.query<LogRow[]>('log.list', { device: b.device.id, limit: 1 }, { library: lib }))[0]!.seq;
    const pulledAt = Date.now();
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [join(ra, 'album')], dest: rb },
      { library: lib },
    );
    const j = await waitJob(b, lib, out.result!.job);
    t.is(j.state, 'completed', j.message ?? '');
    // A change the watcher reports after the transfer: once it is indexed, whatever the watcher saw
    // before it was reported and rescanned too.
    const markedAt = Date.now();
    writeFileSync(join(rb, 'marker.txt'), 'after');
    await until('the watcher indexed the marker', async () => (await indexedUnder(b, lib, rb)).includes('marker.txt'));
    t.deepEqual(await indexedUnder(b, lib, rb), [...expected, 'marker.txt'].sort());
    // No rescan of the location ran for the transfer: the only one after it is the marker's.
    const jobs = await b.query<{ kind: string; createdAt: number }[]>('job.list', {}, { library: lib });
    t.deepEqual(
      jobs.filter((x) => x.kind === 'index' && x.createdAt > pulledAt && x.createdAt < markedAt).length,
      0,
      'no rescan between the pull and the marker',
    );

    const log = (await b.query<LogRow[]>('log.list', { device: b.device.id, limit: 1000 }, { library: lib })).filter(
      (e) => e.seq > before,
    );
    t.deepEqual(
      log.filter((e) => /vdfs-partial/.test(e.summary)).map((e) => e.summary),
      [],
      'no temporary name in the log',
    );
    const received = log.filter((e) => e.type === 'transfer.received');
    t.is(received.length, 1);
    t.regex(received[0]!.summary, /copied 160 file\(s\)/);
    // Besides the transfer's own events, the only entries B's log added are the marker's.
    const others = log.filter((e) => e.type.startsWith('entry.') || e.type.startsWith('index.'));
    t.log(others.map((e) => `${e.type}: ${e.summary}`).join('\n'));
    t.true(
      others.every((e) => !/album|p\d+\.jpg/.test(e.summary)),
      others.map((e) => e.summary).join('; '),
    );
  },
);
