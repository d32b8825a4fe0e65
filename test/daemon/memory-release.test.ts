// The daemon gives memory back once it is quiet after a busy spell: the decision with a clock and
// probes we drive, and then a real daemon after an index (`sd status` shows the release).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import { pack, encodeEvent } from '../../src/events/codec.js';
import {
  loadFullGc,
  loadMallocTrim,
  releaseBeforeWork,
  releasePackBuffer,
  startLibraryReleaser,
  startMemoryReleaser,
  type MemoryProbes,
} from '../../src/daemon/memory.js';
import { until } from '../support/until.js';
import { pidOf, sd, startDaemon } from '../cli/helpers.js';
import { tempDir } from '../helpers.js';

const MiB = 1024 * 1024;

function fake(): MemoryProbes & { rssNow: number; cpu: number; clock: number } {
  const p = {
    rssNow: 100 * MiB,
    cpu: 0,
    clock: 0,
    rss: () => p.rssNow,
    cpuMicros: () => p.cpu,
    now: () => p.clock,
  };
  return p;
}

function releaser(p: ReturnType<typeof fake>, calls: string[], freed = 40 * MiB) {
  const r = startMemoryReleaser({
    probes: p,
    intervalMs: 3_600_000,
    shrink: () => calls.push('shrink'),
    trim: () => {
      calls.push('trim');
      p.rssNow -= freed;
    },
  });
  return r;
}

test('a quiet daemon that grew gives memory back once, and not again until it grows anew', (t) => {
  const p = fake();
  const calls: string[] = [];
  const r = releaser(p, calls);
  t.teardown(() => r.stop());
  p.rssNow += 60 * MiB; // a busy spell...
  p.clock += 5_000;
  p.cpu += 100_000; // ...that is over: 0.1 s of CPU in 5 s
  const rel = r.check();
  t.deepEqual(calls, ['shrink', 'trim']);
  t.is(rel?.before, 160 * MiB);
  t.is(rel?.after, 120 * MiB);
  t.true(rel?.trimmed);
  t.deepEqual(r.last(), rel);
  // quiet again, no growth: nothing to do
  p.clock += 5_000;
  t.is(r.check(), undefined);
  t.deepEqual(calls, ['shrink', 'trim']);
  // growth below 8 MiB since the release is not worth one
  p.rssNow += 7 * MiB;
  p.clock += 5_000;
  t.is(r.check(), undefined);
  p.rssNow += 2 * MiB;
  p.clock += 5_000;
  t.truthy(r.check());
  t.is(calls.length, 4);
});

test('a busy daemon is left alone however much it grew, and released when the work stops', (t) => {
  const p = fake();
  const calls: string[] = [];
  const r = releaser(p, calls);
  t.teardown(() => r.stop());
  for (let i = 0; i < 5; i++) {
    p.rssNow += 50 * MiB;
    p.clock += 5_000;
    p.cpu += 2_500_000; // half a core
    t.is(r.check(), undefined, `interval ${i} was busy`);
  }
  t.deepEqual(calls, []);
  p.clock += 5_000;
  p.cpu += 900_000; // 18 % of a core: quiet
  t.is(r.check()?.before, 350 * MiB);
  t.deepEqual(calls, ['shrink', 'trim']);
});

test('work that freed what it took (RSS flat) is still followed by a release once quiet', (t) => {
  const p = fake();
  const calls: string[] = [];
  const r = releaser(p, calls);
  t.teardown(() => r.stop());
  // quiet intervals with a little CPU (0.2 s in all, heartbeats): not yet work worth a release
  for (let i = 0; i < 10; i++) {
    p.clock += 5_000;
    p.cpu += 20_000;
    t.is(r.check(), undefined);
  }
  p.clock += 5_000;
  p.cpu += 3_000_000; // a busy spell (60 % of a core), RSS flat
  t.is(r.check(), undefined, 'not while busy');
  p.clock += 5_000;
  t.truthy(r.check(), 'quiet after 3.2 s of CPU');
  t.deepEqual(calls, ['shrink', 'trim']);
  p.clock += 5_000;
  p.cpu += 200_000;
  t.is(r.check(), undefined, 'the count starts again at the release');
  p.clock += 5_000;
  p.cpu += 100_000;
  t.truthy(r.check(), 'a quarter second of work since the release');
});

test('a shrink that throws (a connection closing) still trims; without a trim only caches are emptied', (t) => {
  const p = fake();
  const calls: string[] = [];
  const r = startMemoryReleaser({
    probes: p,
    intervalMs: 3_600_000,
    shrink: () => {
      throw new Error('The database connection is not open');
    },
    trim: () => calls.push('trim'),
  });
  t.teardown(() => r.stop());
  p.rssNow += 20 * MiB;
  p.clock += 5_000;
  t.truthy(r.check());
  t.deepEqual(calls, ['trim']);

  const q = fake();
  const shrinks: string[] = [];
  const plain = startMemoryReleaser({ probes: q, intervalMs: 3_600_000, shrink: () => shrinks.push('shrink') });
  t.teardown(() => plain.stop());
  q.rssNow += 20 * MiB;
  q.clock += 5_000;
  t.is(plain.check()?.trimmed, false);
  t.deepEqual(shrinks, ['shrink']);
});

test('the release collects the JS heap between emptying the caches and trimming; the collection frees dropped buffers', (t) => {
  const p = fake();
  const calls: string[] = [];
  const r = startMemoryReleaser({
    probes: p,
    intervalMs: 3_600_000,
    shrink: () => calls.push('shrink'),
    collect: () => calls.push('collect'),
    trim: () => calls.push('trim'),
  });
  t.teardown(() => r.stop());
  p.rssNow += 20 * MiB;
  p.clock += 5_000;
  t.truthy(r.check());
  t.deepEqual(calls, ['shrink', 'collect', 'trim']);

  const gc = loadFullGc();
  t.is(typeof gc, 'function');
  gc!();
  const base = process.memoryUsage().arrayBuffers;
  let dropped: Buffer | undefined = Buffer.alloc(64 * MiB, 1);
  t.true(process.memoryUsage().arrayBuffers >= base + 60 * MiB);
  t.is(dropped[0], 1);
  dropped = undefined;
  gc!();
  t.true(
    process.memoryUsage().arrayBuffers < base + 4 * MiB,
    `${process.memoryUsage().arrayBuffers} after, ${base} before`,
  );
});

test('malloc_trim is reachable on this glibc machine (koffi installed)', (t) => {
  const trim = loadMallocTrim();
  t.is(typeof trim, 'function');
  t.notThrows(() => trim!());
});

test('a real daemon gives memory back after an index and shows it in sd status', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  startDaemon(t, data, [], { SD_MEMORY_CHECK_MS: '300' });
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 4000, folders: 100, seed: 5, extras: false, sparseFiles: 0 });
  t.is(sd(data, ['location', 'add', tree, '--wait'], { SD_MEMORY_CHECK_MS: '300' }).code, 0);
  interface Released {
    at: number;
    before: number;
    after: number;
    trimmed: boolean;
  }
  let released: Released | undefined;
  await until(
    'a release after the index',
    () => {
      const r = sd(data, ['--json', 'status']);
      released = (JSON.parse(r.out) as { memory: { released?: Released } }).memory.released;
      return released !== undefined;
    },
    60_000,
    250,
  );
  t.true(released!.trimmed, 'glibc gave pages back');
  t.true(released!.after < released!.before, `${released!.after} < ${released!.before}`);
  const human = sd(data, ['status']);
  t.regex(human.out, /^\s+released\s+\d+(\.\d+)? [KM]iB \d+ s ago \(\d+(\.\d+)? MiB -> \d+(\.\d+)? MiB\)$/m);
});

test("msgpackr's buffer grown by one big message is given back; what was packed before stays intact", (t) => {
  const big = pack({ paths: Array.from({ length: 200_000 }, (_, i) => `/tree/folder-${i % 500}/file-${i}.bin`) });
  t.true(big.byteLength > 6 * MiB);
  const small = (): Uint8Array => pack({ tag: 'day' });
  t.true(small().buffer.byteLength > 6 * MiB, 'before: a small message lands in the grown buffer');
  const copy = Buffer.from(big);
  releasePackBuffer();
  const after = small();
  t.true(after.buffer.byteLength <= 64 * 1024, `after: ${after.buffer.byteLength} bytes`);
  t.deepEqual(Buffer.from(big), copy, 'the big message packed before is untouched');
  // events still encode to the same bytes, and grow the buffer again when they need it
  const ev = { lib: 'l', dev: 'd', seq: 1, prev: null, hlc: { ms: 1, c: 0 }, type: 't', body: 'x'.repeat(100_000) };
  const once = Buffer.from(encodeEvent(ev));
  releasePackBuffer();
  t.deepEqual(Buffer.from(encodeEvent(ev)), once);
  t.deepEqual(Buffer.from(small()), Buffer.from(pack({ tag: 'day' })));
});

const environOf = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

test('sd start gives the daemon two malloc arenas; a user who set MALLOC_ARENA_MAX keeps theirs', (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a');
  startDaemon(t, a, [], { MALLOC_ARENA_MAX: undefined });
  const envA = environOf(pidOf(a)!);
  t.true(envA.includes('MALLOC_ARENA_MAX=2'), envA.filter((l) => l.startsWith('MALLOC')).join(' '));
  const b = join(dir, 'b');
  startDaemon(t, b, [], { MALLOC_ARENA_MAX: '6' });
  const envB = environOf(pidOf(b)!);
  t.true(envB.includes('MALLOC_ARENA_MAX=6'));
  t.false(envB.includes('MALLOC_ARENA_MAX=2'));
});

test.serial(
  'before a big job the daemon releases at once, busy or not, at most once in 10 s; outside a daemon nothing',
  (t) => {
    t.is(releaseBeforeWork(), undefined, 'no releaser: nothing to do');
    let shrunk = 0;
    const r = startLibraryReleaser(() => [{ shrinkMemory: () => void shrunk++ }], { intervalMs: 3_600_000 });
    t.teardown(() => r.stop());
    // A busy process (this test) that did not grow: the timer's check would not release.
    const first = releaseBeforeWork();
    t.truthy(first);
    t.is(shrunk, 1);
    t.is(r.last(), first, 'sd status shows it as the last release');
    t.is(releaseBeforeWork(), undefined, 'a second job right after does not collect again');
    t.is(shrunk, 1);
    r.stop();
    t.is(releaseBeforeWork(), undefined, 'a stopped releaser is not used');
  },
);
