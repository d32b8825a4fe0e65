// sd cp --device through two cores on loopback: a file and a folder arrive whole, verified, in
// the log; what is in the way is a conflict; a path the source does not serve is refused.
import test from 'ava';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { indexed, pair, waitJob } from './helpers.js';

test.serial('pull a file and a folder from another device: same bytes, verified, recorded in the log', async (t) => {
  const { a, b, lib, ra, rb } = await pair(t);
  const big = randomBytes(3 * 1024 * 1024 + 123);
  writeFileSync(join(ra, 'big.bin'), big);
  mkdirSync(join(ra, 'docs', 'deep'), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(ra, 'docs', `f${i}.txt`), `file ${i}\n`.repeat(i));
  writeFileSync(join(ra, 'docs', 'deep', 'z.txt'), 'deep');
  await indexed(a, b, lib, ra);
  await indexed(b, a, lib, rb);
  const out = await b.command<{ job: string }>(
    'transfer.pull',
    { device: 'alpha', sources: [join(ra, 'big.bin'), join(ra, 'docs')], dest: rb },
    { library: lib },
  );
  t.true(out.verify!.ok);
  t.regex(out.plan.summary, /from "alpha"/);
  const j = await waitJob(b, lib, out.result!.job);
  t.is(j.state, 'completed', j.message ?? '');
  t.deepEqual(readFileSync(join(rb, 'big.bin')), big);
  t.is(readdirSync(join(rb, 'docs')).length, 31);
  t.is(readFileSync(join(rb, 'docs', 'deep', 'z.txt'), 'utf8'), 'deep');
  t.false(existsSync(join(rb, '.vdfs-partial', out.result!.job)));
  const log = await b.query<{ type: string; summary: string; verified: boolean | null }[]>(
    'log.list',
    { type: 'transfer' },
    { library: lib },
  );
  t.regex(log[0]!.summary, /copied 32 file\(s\) .* from "alpha"/);
  t.true(log[0]!.verified);
});

test.serial(
  'files at the chunk boundaries arrive whole and verified (a one-chunk file is hashed once at the source)',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    const MiB = 1024 * 1024;
    const sizes = { empty: 0, one: 1, under: MiB - 1, exact: MiB, over: MiB + 1, two: 2 * MiB };
    mkdirSync(join(ra, 'edge'));
    const bytes = Object.fromEntries(Object.entries(sizes).map(([n, s]) => [n, randomBytes(s)]));
    for (const [n, d] of Object.entries(bytes)) writeFileSync(join(ra, 'edge', n), d);
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb);
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [join(ra, 'edge')], dest: rb },
      { library: lib },
    );
    const j = await waitJob(b, lib, out.result!.job);
    t.is(j.state, 'completed', j.message ?? '');
    for (const [n, d] of Object.entries(bytes)) t.deepEqual(readFileSync(join(rb, 'edge', n)), d, n);
    const log = await b.query<{ summary: string; verified: boolean | null }[]>(
      'log.list',
      { type: 'transfer' },
      { library: lib },
    );
    t.regex(log[0]!.summary, /copied 6 file\(s\)/);
    t.true(log[0]!.verified);
  },
);
