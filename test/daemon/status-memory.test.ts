// `sd status` shows the daemon's memory: the resident size the system counts for the daemon's
// process (not the CLI's), with the JS heap and buffers beside it.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTree } from '../../fixtures/tree.js';
import { pidOf, sd, startDaemon } from '../cli/helpers.js';
import { tempDir } from '../helpers.js';

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
}

/** VmRSS of a process in bytes, as the kernel counts it. */
function vmRss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

test("sd status shows the daemon's resident memory as the kernel counts it, also after an index", (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  startDaemon(t, data);
  const pid = pidOf(data)!;
  const tree = join(dir, 'tree');
  generateTree(tree, { files: 2000, folders: 60, seed: 3, extras: false, sparseFiles: 0 });
  t.is(sd(data, ['location', 'add', tree, '--wait']).code, 0);

  const before = vmRss(pid);
  const r = sd(data, ['--json', 'status']);
  t.is(r.code, 0, r.err);
  const after = vmRss(pid);
  const mem = (JSON.parse(r.out) as { memory: Mem }).memory;
  t.true(mem.rss > 20 * 2 ** 20, `a Node daemon holds more than 20 MiB (${mem.rss})`);
  // The daemon's figure, not the CLI's: it lies near the kernel's count for the daemon's pid.
  const lo = Math.min(before, after) * 0.8;
  const hi = Math.max(before, after) * 1.2;
  t.true(mem.rss >= lo && mem.rss <= hi, `${mem.rss} within [${lo}, ${hi}]`);
  t.true(mem.heapUsed > 0 && mem.heapUsed < mem.rss, 'the JS heap is a part of the resident size');
  t.true(mem.external >= 0);

  const human = sd(data, ['status']);
  t.is(human.code, 0, human.err);
  t.regex(
    human.out,
    /^\s+memory\s+\d+(\.\d+)? MiB resident \(JS heap \d+(\.\d+)? [KM]iB, buffers \d+(\.\d+)? [KM]?i?B\)$/m,
  );
});

test('sd status of a data dir with no daemon shows no memory figure and exits non-zero', (t) => {
  const data = join(tempDir(t), 'data');
  const r = sd(data, ['status']);
  t.not(r.code, 0);
  t.notRegex(r.out + r.err, /memory/);
  const j = sd(data, ['--json', 'status']);
  t.not(j.code, 0);
  t.notRegex(j.out, /"rss"/);
});
