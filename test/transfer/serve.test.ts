// The serving side against peers that misbehave: its board's entries belong to this device (a
// peer's request ids are its own, and one reused on a link is refused), and a file whose receiver
// gives no credit (or reads nothing) ends after the stall limit, its entry and the board's memory
// hold gone with it.
// An honest receiver under a slow bandwidth limit gives credit often enough not to be cut.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../../src/core.js';
import { freedMemoryHolds } from '../../src/native/malloc.js';
import type { Port } from '../../src/transfer/port.js';
import { CHUNK, isChunk, type Msg } from '../../src/transfer/protocol.js';
import { indexed, node, pair, until, waitJob } from './helpers.js';

type Get = Extract<Msg, { t: 'get' }>;

/** A `get` for `path` on A as it stands, with one chunk of credit (the rest never comes unless given). */
const getOf = (lib: string, path: string, rid: number): Get => {
  const st = statSync(path);
  return { t: 'get', rid, lib, path, size: st.size, mtime: st.mtimeMs, ino: st.ino, from: 0, credit: 1 };
};

const portTo = (from: Core, to: Core): Port => from.transfers!.attach(from.peers!.linkTo(to.device.id)!);
const outgoing = (a: Core): { peer: string; id: string }[] =>
  a.transfers!.board.views().filter((v) => v.direction === 'out');

test.serial('two peers asking with the same request id both show on the board and end independently', async (t) => {
  const { a, b, lib, ra } = await pair(t);
  const c = await node(t, 'charlie');
  const code = (await a.command<{ code: string }>('pair.invite', {})).result!.code;
  await c.command('pair.join', { code });
  await until('C has a link to A', () => !!c.peers!.linkTo(a.device.id) && !!a.peers!.linkTo(c.device.id));
  const path = join(ra, 'big.bin');
  writeFileSync(path, randomBytes(3 * CHUNK));
  await indexed(a, b, lib, ra);
  const before = freedMemoryHolds();
  for (const peer of [b, c]) portTo(peer, a).send(getOf(lib, path, 7));
  await until('both wait for credit on A', () => outgoing(a).length === 2);
  t.deepEqual(
    outgoing(a)
      .map((v) => v.peer)
      .sort(),
    [b.device.id, c.device.id].sort(),
  );
  t.not(outgoing(a)[0]!.id, outgoing(a)[1]!.id);
  t.is(freedMemoryHolds(), before + 1);
  portTo(b, a).send({ t: 'stop', rid: 7 });
  await until("B's ended", () => outgoing(a).length === 1);
  t.is(outgoing(a)[0]!.peer, c.device.id, "C's is still there");
  t.is(freedMemoryHolds(), before + 1);
  portTo(c, a).send({ t: 'stop', rid: 7 });
  await until("C's ended", () => outgoing(a).length === 0);
  t.is(freedMemoryHolds(), before);
});

test.serial(
  'a request id reused on one link is refused E_BAD_FRAME; the request it names goes on and ends',
  async (t) => {
    const { a, b, lib, ra } = await pair(t);
    const path = join(ra, 'big.bin');
    writeFileSync(path, randomBytes(3 * CHUNK));
    await indexed(a, b, lib, ra);
    const port = portTo(b, a);
    const answers: string[] = [];
    const req = port.request(
      getOf(lib, path, 0),
      (m) => void answers.push('code' in m ? `${m.t} ${m.code}` : 'index' in m ? `chunk ${m.index}` : m.t),
      () => undefined,
    );
    await until('the first chunk', () => answers.includes('chunk 0'));
    port.send(getOf(lib, path, req.rid));
    await until('the second is refused', () => answers.includes('fail E_BAD_FRAME'));
    t.is(outgoing(a).length, 1);
    t.true((a.peers!.status().refusals['E_BAD_FRAME'] ?? 0) >= 1);
    // The first still takes its credit, and sends the rest of the file.
    port.send({ t: 'credit', rid: req.rid, n: 2 });
    await until('the file ends', () => answers.includes('end'));
    t.deepEqual(
      answers.filter((x) => x.startsWith('chunk')),
      ['chunk 0', 'chunk 1', 'chunk 2'],
    );
    await until('its entry is gone', () => outgoing(a).length === 0);
    req.end();
  },
);

/** Two paired devices, a 3-chunk file on A, A's stall limit at 300 ms, and the memory holds before. */
async function stallable(t: ExecutionContext) {
  const { a, b, lib, ra } = await pair(t);
  const path = join(ra, 'big.bin');
  writeFileSync(path, randomBytes(3 * CHUNK));
  await indexed(a, b, lib, ra);
  a.transfers!.server.stallMs = 300;
  return { a, b, lib, path, before: freedMemoryHolds() };
}

/** A request whose `fail` answer, if any, lands in `failed` as "CODE: message". */
function failureOf(port: ReturnType<typeof portTo>, get: Parameters<ReturnType<typeof portTo>['request']>[0]) {
  const out: { failed?: string; end: () => void } = { end: () => undefined };
  const req = port.request(
    get,
    (m) => {
      if (!isChunk(m) && m.t === 'fail') out.failed = `${m.code}: ${m.message}`;
    },
    () => undefined,
  );
  out.end = () => req.end();
  return out;
}

test.serial(
  'a receiver that gives no credit is cut after the stall limit (E_TRANSFER_STALLED); its entry and the hold go',
  async (t) => {
    const { a, b, lib, path, before } = await stallable(t);
    const t0 = Date.now();
    const req = failureOf(portTo(b, a), getOf(lib, path, 0));
    await until('A sends a chunk and waits', () => outgoing(a).length === 1);
    await until('A gives up', () => req.failed !== undefined, 5000);
    const ms = Date.now() - t0;
    req.end();
    t.regex(req.failed!, /^E_TRANSFER_STALLED: .*no credit/);
    t.true(ms >= 300, `${ms} ms`);
    await until('its entry is gone', () => outgoing(a).length === 0, 2000);
    t.is(freedMemoryHolds(), before);
    t.false('E_TRANSFER_STALLED' in a.peers!.status().refusals, 'a stall is not counted as a refusal');
  },
);

test.serial(
  'a receiver that reads nothing (the link never drains) is cut after the stall limit too; its entry and the hold go',
  async (t) => {
    const { a, b, lib, path, before } = await stallable(t);
    // A's link buffer is full from the first chunk on, and never drains: B reads nothing.
    portTo(a, b).sendRaw = (): boolean => false;
    const req = failureOf(portTo(b, a), { ...getOf(lib, path, 0), credit: 4 });
    await until('A gives up', () => req.failed !== undefined, 5000);
    req.end();
    t.regex(req.failed!, /^E_TRANSFER_STALLED: .*read nothing/);
    await until('its entry is gone', () => outgoing(a).length === 0, 2000);
    t.is(freedMemoryHolds(), before);
  },
);

test.serial(
  'a receiver under a slow bandwidth limit gives credit for each chunk, so the stall limit does not cut it',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    // More chunks than the first credit (16) and four more: the source waits for credit from the
    // receiver, which takes a third of a second a chunk here; four chunks' credit at a time would
    // leave it 1.3 s without any.
    const data = randomBytes(21 * CHUNK + 5);
    writeFileSync(join(ra, 'slow.bin'), data);
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb);
    a.transfers!.server.stallMs = 800;
    b.transfers!.setLimit(3 * CHUNK);
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [join(ra, 'slow.bin')], dest: rb },
      { library: lib },
    );
    const j = await waitJob(b, lib, out.result!.job);
    t.is(j.state, 'completed', j.message ?? '');
    t.true(readFileSync(join(rb, 'slow.bin')).equals(data));
  },
);
