// The file's BLAKE3 is computed over the bytes the receiver writes, in the pass that checks each
// chunk, and compared with the one the source computed over its own bytes: a resumed file is
// hashed from the part on disk, so a byte changed there while the pull was paused is caught; a
// source whose whole-file hash disagrees with its chunks is refused; nothing is placed either way.
import test from 'ava';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createBlake3 } from '../../src/jobs/blake3.js';
import { contentIdOf, SMALL_FILE_LIMIT } from '../../src/jobs/content-id.js';
import { CHUNK, type Msg } from '../../src/transfer/protocol.js';
import { closeOpsPool, opsHashingRunning } from '../../src/ops/entry/hashing.js';
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

test.serial(
  'the bigger files of a pull are identified from their samples as written, without the hashing threads: the same ids and kinds as read from disk',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const src = join(ra, 'scans');
    mkdirSync(src);
    const png = (n: number): Buffer => Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(n - 8)]);
    const files = {
      'first.dat': png(SMALL_FILE_LIMIT + 1),
      'two.dat': png(CHUNK + 1),
      'many.bin': randomBytes(5 * CHUNK + 7),
    };
    for (const [n, d] of Object.entries(files)) writeFileSync(join(src, n), d);
    const locA = await indexed(a, b, lib, ra);
    const locB = await indexed(b, a, lib, rb);
    await closeOpsPool();
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [src], dest: rb },
      { library: lib },
    );
    const j = await waitJob(b, lib, out.result!.job);
    t.is(j.state, 'completed', j.message ?? '');
    t.false(opsHashingRunning(), 'placing started the hashing threads');
    const db = b.libraries.resolve(lib).db;
    t.is(
      (db.prepare("SELECT kind FROM entries WHERE loc = ? AND name = 'first.dat'").get(locB) as { kind: string }).kind,
      'image',
    );
    for (const n of Object.keys(files)) {
      const row = db.prepare('SELECT cid, kind FROM entries WHERE loc = ? AND name = ?').get(locB, n) as {
        cid: string;
        kind: string;
      };
      t.true(readFileSync(join(rb, 'scans', n)).equals(files[n as keyof typeof files]), n);
      t.is(row.cid, await contentIdOf(join(rb, 'scans', n)), n);
      // The kind as the source's index found it reading the file itself.
      const there = a.libraries
        .resolve(lib)
        .db.prepare('SELECT kind FROM entries WHERE loc = ? AND name = ?')
        .get(locA, n) as { kind: string } | undefined;
      t.is(row.kind, there?.kind ?? 'not indexed at the source', n);
    }
  },
);

test.serial(
  'each chunk carries the BLAKE3 of the file through it: one with only its own BLAKE3 is refused at that chunk, and a source that sends only those never delivers',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const data = randomBytes(4 * CHUNK + 99);
    writeFileSync(join(ra, 'scan.tif'), data);
    writeFileSync(join(ra, 'old.bin'), randomBytes(3 * CHUNK));
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb);
    const own = await createBlake3(256);
    // A's side of the xfer channel puts the chunk's own BLAKE3 where the file's through it belongs
    // (what a device on link protocol 5 sent): once for the third chunk of scan.tif, always for old.bin.
    const port = a.transfers!.attach(a.peers!.linkTo(b.device.id)!);
    const send = port.sendRaw.bind(port);
    let swapped = 0;
    let always = false;
    port.sendRaw = (bytes: Uint8Array): boolean => {
      const frame = Buffer.from(bytes);
      if (frame[0] === 1 && frame.readUInt32BE(5) > 0 && (always || (frame.readUInt32BE(5) === 2 && swapped === 0))) {
        own.init();
        own.update(frame.subarray(41));
        frame.set(Buffer.from(own.digest(), 'hex'), 9);
        swapped++;
        return send(frame);
      }
      return send(bytes);
    };
    const pull = async (name: string): Promise<JobView> => {
      const out = await b.command<{ job: string }>(
        'transfer.pull',
        { device: 'alpha', sources: [join(ra, name)], dest: rb },
        { library: lib },
      );
      return waitJob(b, lib, out.result!.job);
    };
    const j = await pull('scan.tif');
    t.is(j.state, 'completed', j.message ?? '');
    t.is(swapped, 1);
    t.true(readFileSync(join(rb, 'scan.tif')).equals(data));
    const log = await b.query<{ summary: string }[]>('log.list', { type: 'transfer' }, { library: lib });
    t.regex(log[0]?.summary ?? '', /1 chunk\(s\) refused/);
    always = true;
    const old = await pull('old.bin');
    t.is(old.state, 'failed');
    t.regex(old.message ?? '', /E_CHUNK_REFUSED/);
    t.true(swapped > 8, `${swapped} chunks swapped`);
    t.deepEqual(visible(rb), ['scan.tif'], 'nothing of old.bin is placed');
  },
);

test.serial(
  "a resumed file's prefix hash (the part the receiver holds) that disagrees fails E_VERIFY_FAILED; nothing is placed",
  async (t) => {
    const size = 24 * CHUNK + 3;
    const { a, b, lib, rb, id } = await slowPull(t, 'one.bin', size);
    // The prefix hash A sends for the part B holds when B resumes is a lie.
    const port = a.transfers!.attach(a.peers!.linkTo(b.device.id)!);
    const send = port.send.bind(port);
    let lies = 0;
    port.send = (m: Msg): boolean => {
      if (m.t !== 'prefix') return send(m);
      lies++;
      return send({ ...m, hash: m.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) });
    };
    await until('a quarter arrived', async () => (await jobInfo(b, lib, id)).done >= size / 4);
    await b.command('job.pause', { ref: id }, { library: lib });
    await until('paused', async () => (await jobInfo(b, lib, id)).state === 'paused');
    await b.command('job.resume', { ref: id }, { library: lib });
    const j = await waitJob(b, lib, id);
    t.is(j.state, 'failed');
    t.regex(j.message ?? '', /E_VERIFY_FAILED.*changed on disk/);
    t.is(lies, 1);
    t.deepEqual(visible(rb), []);
  },
);

test.serial('a prefix hash sent when no resume asked for one is E_BAD_FRAME; nothing is placed', async (t) => {
  const { a, b, lib, ra, rb } = await pair(t);
  writeFileSync(join(ra, 'two.bin'), randomBytes(2 * CHUNK + 5));
  await indexed(a, b, lib, ra);
  await indexed(b, a, lib, rb);
  const port = a.transfers!.attach(a.peers!.linkTo(b.device.id)!);
  const send = port.send.bind(port);
  port.send = (m: Msg): boolean => {
    if (m.t === 'end') send({ t: 'prefix', rid: m.rid, hash: '0'.repeat(64) });
    return send(m);
  };
  const out = await b.command<{ job: string }>(
    'transfer.pull',
    { device: 'alpha', sources: [join(ra, 'two.bin')], dest: rb },
    { library: lib },
  );
  const k = await waitJob(b, lib, out.result!.job);
  t.is(k.state, 'failed');
  t.regex(k.message ?? '', /E_BAD_FRAME/);
  t.deepEqual(visible(rb), []);
});
