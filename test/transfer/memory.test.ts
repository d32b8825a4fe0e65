// While a transfer streams 1 MiB buffers, glibc keeps what the daemon freed for the next ones
// instead of handing it back and faulting fresh pages in (src/native/malloc.ts); the last
// transfer done ends that. Measured in a child process, whose allocator starts as glibc's own.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { freedMemoryHolds } from '../../src/native/malloc.js';
import { libc } from '../../src/native/libc.js';
import { Progress, TransferBoard } from '../../src/transfer/status.js';

const MALLOC = pathToFileURL(new URL('../../src/native/malloc.js', import.meta.url).pathname).href;

// Opens 256 AES-GCM records of 1 MiB (what a pull's receiver does per GiB/4) and prints the minor
// faults it took: first as glibc stands, then under a hold, then after its release.
const CHILD = `
  import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
  import { readFileSync } from 'node:fs';
  import { holdFreedMemory, freedMemoryHolds } from ${JSON.stringify(MALLOC)};
  const minflt = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
  const key = randomBytes(32), iv = Buffer.alloc(12), c = createCipheriv('aes-256-gcm', key, iv);
  const ct = c.update(randomBytes(1 << 20)); c.final(); const tag = c.getAuthTag();
  const run = () => {
    const f0 = minflt();
    for (let i = 0; i < 256; i++) { const d = createDecipheriv('aes-256-gcm', key, iv); d.setAuthTag(tag); d.update(ct); d.final(); }
    return minflt() - f0;
  };
  const plain = run();
  const release = holdFreedMemory();
  const held = run();
  release();
  process.stdout.write(JSON.stringify({ plain, held, holds: freedMemoryHolds() }));`;

test('during a transfer, opening 256 MiB of records takes under half the page faults; released after', (t) => {
  if (process.platform !== 'linux' || !libc()) return t.pass('glibc through koffi only');
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: undefined, MALLOC_TRIM_THRESHOLD_: undefined };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD], { env, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { plain: number; held: number; holds: number };
  t.log(`minor faults: ${got.plain} as glibc stands, ${got.held} under the hold`);
  t.true(got.plain > 10_000, `the workload faults without the hold (${got.plain})`);
  t.true(got.held * 2 < got.plain, `${got.held} against ${got.plain}`);
  t.is(got.holds, 0);
});

test('the transfer board holds while any transfer is in flight, in or out, and lets go after the last', (t) => {
  const board = new TransferBoard();
  const before = freedMemoryHolds();
  const a = board.open(new Progress('j1', 'in', 'dev', 'lib', 10, 1));
  t.is(freedMemoryHolds(), before + 1);
  const b = board.open(new Progress('j2', 'out', 'dev', 'lib', 10, 1));
  t.is(freedMemoryHolds(), before + 1, 'one hold per board');
  board.close(a);
  t.is(freedMemoryHolds(), before + 1, 'the outgoing one still runs');
  board.close(b);
  t.is(freedMemoryHolds(), before);
  board.close(b); // closed twice (a job's cleanup after a failure): no underflow
  t.is(freedMemoryHolds(), before);
});

test('two transfers with the same id (two peers, one request id) are two entries: each ends on its own', (t) => {
  const board = new TransferBoard();
  const before = freedMemoryHolds();
  const one = board.open(new Progress('peer:7', 'out', 'dev1', 'lib', 10, 1));
  const two = board.open(new Progress('peer:7', 'out', 'dev2', 'lib', 10, 1));
  t.deepEqual(
    board.views().map((v) => v.peer),
    ['dev1', 'dev2'],
  );
  board.close(one);
  t.deepEqual(
    board.views().map((v) => v.peer),
    ['dev2'],
  );
  t.is(freedMemoryHolds(), before + 1, 'the other still streams');
  board.close(two);
  t.deepEqual(board.views(), []);
  t.is(freedMemoryHolds(), before);
});
