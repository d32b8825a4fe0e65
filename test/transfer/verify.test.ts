// The file's BLAKE3 is computed over the bytes the receiver writes, in the pass that checks each
// chunk, and compared with the one the source computed over its own bytes: a resumed file is
// hashed from the part on disk, so a byte changed there while the pull was paused is caught; a
// source whose whole-file hash disagrees with its chunks is refused; nothing is placed either way.
import test from 'ava';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { contentIdOf, SMALL_FILE_LIMIT } from '../../src/jobs/content-id.js';
import { CHUNK, type Msg } from '../../src/transfer/protocol.js';
import { indexed, jobInfo, pair, slowPull, until, visible, waitJob, type JobView } from './helpers.js';

test.serial('a byte changed on disk in the verified part of a paused pull is caught at its end', async (t) => {
  const size = 24 * CHUNK + 3;
  const { b, lib, rb, id } = await slowPull(t, 'vm.img', size);
  await until('a quarter arrived', async () => (await jobInfo(b, lib, id)).done >= size / 4);
  await b.command('job.pause', { ref: id }, { library: lib });
  await until('paused', async () => (await jobInfo(b, lib, id)).state === 'paused');
  const partial = join(rb, '.vdfs-partial', id, '0');
  t.true(existsSync(partial));
  // Another program on this device flips a byte of the first chunk, verified before the pause.
  const fd = openSync(partial, 'r+');
  const before = readFileSync(partial);
  t.true(before.length >= CHUNK);
  const one = Buffer.of(before[100]! ^ 0xff);
  writeSync(fd, one, 0, 1, 100);
  closeSync(fd);
  await b.command('job.resume', { ref: id }, { library: lib });
  const j = await waitJob(b, lib, id);
  t.is(j.state, 'failed');
  t.regex(j.message ?? '', /E_VERIFY_FAILED/);
  t.deepEqual(visible(rb), [], 'nothing is placed');
});

test.serial(
  "a source whose whole-file BLAKE3 disagrees with its chunks is refused; an honest one's is recorded",
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const good = randomBytes(3 * CHUNK + 11);
    writeFileSync(join(ra, 'good.bin'), good);
    writeFileSync(join(ra, 'bad.bin'), randomBytes(3 * CHUNK + 11));
    writeFileSync(join(ra, 'tiny.txt'), 'one chunk');
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb);
    // A's side of the xfer channel lies about the file at its end, after every chunk was honest.
    const port = a.transfers!.attach(a.peers!.linkTo(b.device.id)!);
    const send = port.send.bind(port);
    let lied = 0;
    let lying = true;
    port.send = (m: Msg): boolean => {
      if (lying && m.t === 'end') {
        lied++;
        return send({ ...m, hash: m.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) });
      }
      return send(m);
    };
    const pull = async (name: string): Promise<JobView> => {
      const out = await b.command<{ job: string }>(
        'transfer.pull',
        { device: 'alpha', sources: [join(ra, name)], dest: rb },
        { library: lib },
      );
      return waitJob(b, lib, out.result!.job);
    };
    for (const name of ['bad.bin', 'tiny.txt']) {
      const j = await pull(name);
      t.is(j.state, 'failed', name);
      t.regex(j.message ?? '', /E_VERIFY_FAILED/, name);
    }
    t.is(lied, 2);
    t.deepEqual(visible(rb), []);
    lying = false;
    const j = await pull('good.bin');
    t.is(j.state, 'completed', j.message ?? '');
    t.true(readFileSync(join(rb, 'good.bin')).equals(good));
  },
);

test.serial(
  'the small files of a pull are identified from the bytes written: the same content ids and kinds as read from disk',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const src = join(ra, 'album');
    mkdirSync(join(src, 'sub'), { recursive: true });
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(3000)]);
    writeFileSync(join(src, 'photo.dat'), png); // an image by its first bytes, not its name
    writeFileSync(join(src, 'sub', 'notes.txt'), 'plain words\n');
    writeFileSync(join(src, 'sub', 'empty'), '');
    writeFileSync(join(src, 'edge.bin'), randomBytes(SMALL_FILE_LIMIT)); // the largest hashed whole
    writeFileSync(join(ra, 'big.bin'), randomBytes(SMALL_FILE_LIMIT + 1)); // sampled: read from disk
    await indexed(a, b, lib, ra);
    const locB = await indexed(b, a, lib, rb);
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [src, join(ra, 'big.bin')], dest: rb },
      { library: lib },
    );
    const j = await waitJob(b, lib, out.result!.job);
    t.is(j.state, 'completed', j.message ?? '');
    const db = b.libraries.resolve(lib).db;
    const row = (name: string): { cid: string; kind: string } =>
      db.prepare('SELECT cid, kind FROM entries WHERE loc = ? AND name = ?').get(locB, name) as {
        cid: string;
        kind: string;
      };
    for (const rel of ['photo.dat', 'sub/notes.txt', 'sub/empty', 'edge.bin']) {
      const name = rel.split('/').pop()!;
      t.is(row(name).cid, await contentIdOf(join(rb, 'album', rel)), rel);
    }
    t.is(row('big.bin').cid, await contentIdOf(join(rb, 'big.bin')));
    t.is(row('photo.dat').kind, 'image');
    t.is(row('notes.txt').kind, 'text');
  },
);
