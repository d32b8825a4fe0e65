// Two cores on loopback, paired, each with a location: the setting of the transfer tests.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Core } from '../../src/core.js';
import { tempDir } from '../helpers.js';
import { until as untilShared } from '../support/until.js';
import { CHUNK } from '../../src/transfer/protocol.js';

process.env.SD_P2P_HOST = '127.0.0.1';

/** The shared bounded wait, with a longer default: two cores pairing on a loaded machine. */
export const until = (what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> =>
  untilShared(what, cond, ms);

/** The data dir of each core made here (to open it again: a restart). */
export const dataDirOf = new WeakMap<Core, string>();

export async function node(t: ExecutionContext, name: string): Promise<Core> {
  const dir = tempDir(t);
  const core = await Core.open(dir);
  dataDirOf.set(core, dir);
  t.teardown(() => core.close());
  await core.command('device.rename', { name });
  await core.startPeers('127.0.0.1', 0);
  return core;
}

export interface Pair {
  a: Core;
  b: Core;
  lib: string;
  /** A's location root and B's. */
  ra: string;
  rb: string;
}

const heads = (c: Core, lib: string): string => JSON.stringify([...c.libraries.resolve(lib).log.heads()].sort());

/** A and B paired in A's library, with an empty folder each (made a location by `indexed`). */
export async function pair(t: ExecutionContext): Promise<Pair> {
  const [a, b] = [await node(t, 'alpha'), await node(t, 'bravo')];
  const lib = a.libraries.resolve().id;
  const code = (await a.command<{ code: string }>('pair.invite', {})).result!.code;
  await b.command('pair.join', { code });
  const ra = join(tempDir(t), 'a');
  const rb = join(tempDir(t), 'b');
  mkdirSync(ra);
  mkdirSync(rb);
  await until('B has the library', () => b.libraries.list().some((l) => l.id === lib));
  return { a, b, lib, ra, rb };
}

/** Adds a location and waits for its index job, and for the other core to hold every feed. */
export async function indexed(core: Core, other: Core, lib: string, path: string, extra = {}): Promise<string> {
  const out = await core.command<{ id: string; job: string }>(
    'location.add',
    { path, watch: false, ...extra },
    { library: lib },
  );
  await until(`${core.device.name} indexed ${path}`, async () => {
    const j = await core.query<{ state: string }>('job.info', { ref: out.result!.job }, { library: lib });
    return j.state === 'completed';
  });
  await until('feeds level', () => heads(core, lib) === heads(other, lib));
  return out.result!.id;
}

export interface JobView {
  state: string;
  message: string | null;
  done: number;
  total: number | null;
}

export async function waitJob(core: Core, lib: string, id: string, ms = 60_000): Promise<JobView> {
  let j: JobView | undefined;
  await until(
    `job ${id.slice(0, 8)} to end`,
    async () => {
      j = await core.query<JobView>('job.info', { ref: id }, { library: lib });
      return ['completed', 'failed', 'cancelled'].includes(j.state);
    },
    ms,
  );
  return j!;
}

/** What a user sees in a folder: our hidden partial and trash folders left out. */
export const visible = (dir: string): string[] => readdirSync(dir).filter((n) => !n.startsWith('.'));

/** A job as `sd job info` shows it. */
export const jobInfo = (c: Core, lib: string, id: string): Promise<JobView> =>
  c.query<JobView>('job.info', { ref: id }, { library: lib });

/**
 * A and B paired, `size` random bytes written as `name` in A's location and indexed on both, A
 * sending at 8 MiB/s (a file of 24 chunks takes about 3 s), and B's pull of the file started.
 */
export async function slowPull(
  t: ExecutionContext,
  name: string,
  size: number,
): Promise<Pair & { id: string; data: Buffer }> {
  const p = await pair(t);
  const data = randomBytes(size);
  writeFileSync(join(p.ra, name), data);
  await indexed(p.a, p.b, p.lib, p.ra);
  await indexed(p.b, p.a, p.lib, p.rb);
  p.a.transfers!.setLimit(8 * CHUNK);
  const out = await p.b.command<{ job: string }>(
    'transfer.pull',
    { device: 'alpha', sources: [join(p.ra, name)], dest: p.rb },
    { library: p.lib },
  );
  return { ...p, id: out.result!.job, data };
}
