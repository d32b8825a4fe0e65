// The signed log is the only authority: a paired member turned hostile signs crafted events with
// its own key and they reach the victim through the real feed protocol over real peer links. The
// victim's state, its `log verify` and its `replay --check` stay as they were; the refusals show
// in `sd log` and `sd sync status`; an honest third member sees the same.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { Core } from '../../src/core.js';
import { pack } from '../../src/events/codec.js';
import { deviceIdOf } from '../../src/events/keys.js';
import { MAX_CLOCK_SKEW_MS } from '../../src/events/hlc.js';
import type { Library } from '../../src/library/library.js';
import type { PeerLink } from '../../src/transport/types.js';
import { forge } from '../support/forge.js';
import { tempDir } from '../helpers.js';
import { idle } from '../entry/helpers.js';
import { until } from '../support/until.js';

process.env.SD_P2P_HOST = '127.0.0.1';

interface LogRow {
  device: string;
  seq: number;
  type: string;
  refused: { code: string; reason: string } | null;
  future: boolean;
}

interface Trio {
  a: Core;
  m: Core;
  c: Core;
  lib: string;
  la: Library;
  lm: Library;
  lc: Library;
  /** Waits until A and C hold M's feed up to its head (or `seq`). */
  received(seq?: number): Promise<void>;
  /** A and C: `log verify` ok and `replay --check` equal. */
  intact(t: ExecutionContext): Promise<void>;
  log(core: Core): Promise<LogRow[]>;
}

/** A (creator, the victim), M (the hostile member) and C (an honest member), paired over real links. */
async function trio(t: ExecutionContext): Promise<Trio> {
  const open = async (name: string): Promise<Core> => {
    const core = await Core.open(tempDir(t));
    t.teardown(() => core.close());
    await core.command('device.rename', { name });
    await core.startPeers('127.0.0.1', 0);
    return core;
  };
  const [a, m, c] = [await open('alpha'), await open('mallory'), await open('charlie')];
  for (const x of [m, c]) {
    const code = (await a.command<{ code: string }>('pair.invite', {})).result!.code;
    const out = await x.command<{ member: boolean }>('pair.join', { code });
    t.true(out.result!.member, 'the joiner is on the roster when pair join returns');
  }
  const lib = a.libraries.resolve().id;
  const [la, lm, lc] = [a, m, c].map((x) => x.libraries.resolve(lib)) as [Library, Library, Library];
  const heads = (l: Library): string => JSON.stringify([...l.log.heads()].sort());
  await until('all three level', () => heads(la) === heads(lm) && heads(lc) === heads(lm));
  return {
    a,
    m,
    c,
    lib,
    la,
    lm,
    lc,
    received: (seq = lm.log.headOf(m.device.id).seq) =>
      until(
        'A and C hold M feed',
        () => la.log.headOf(m.device.id).seq >= seq && lc.log.headOf(m.device.id).seq >= seq,
      ),
    intact: async (t) => {
      for (const x of [a, c]) {
        const v = await x.query<{ ok: boolean; firstBad?: unknown }>('log.verify', {}, { library: lib });
        t.true(v.ok, `${x.device.name}: log verifies ${JSON.stringify(v.firstBad)}`);
        const r = await x.query<{ equal: boolean; differing: string[] }>('replay.check', {}, { library: lib });
        t.true(r.equal, `${x.device.name}: replay equal ${JSON.stringify(r.differing)}`);
      }
    },
    log: (core) => core.query<LogRow[]>('log.list', { limit: 1000 }, { library: lib }),
  };
}

const refusedOf = (rows: LogRow[], dev: string): string[] =>
  rows.filter((r) => r.device === dev && r.refused).map((r) => `${r.type}:${r.refused!.code}`);

test.serial(
  "a member can neither take over, plant files in, nor hide files of another device's location",
  async (t) => {
    const w = await trio(t);
    const root = realpathSync(tempDir(t, 'sd-loc-'));
    writeFileSync(join(root, 'a.txt'), 'aaa');
    writeFileSync(join(root, 'b.txt'), 'bbb');
    const loc = (await w.a.command<{ id: string }>('location.add', { path: root, watch: true })).result!.id;
    await idle(w.a);
    const rows = (l: Library): string =>
      JSON.stringify([
        l.db.prepare('SELECT id, dev, path, name, watch FROM locations ORDER BY id').all(),
        l.db.prepare('SELECT key, size, cid FROM entries WHERE loc = ? ORDER BY key').all(loc),
      ]);
    await until('C has A location', () => rows(w.lc) === rows(w.la));
    const before = rows(w.la);
    const now = Date.now();
    const M = w.m.device;
    forge(w.lm, M, 'location.added', { id: loc, path: '/etc', name: 'etc', watch: true, rules: {} });
    // A new entry, and a content id of its choosing on one of A's files (a row of 7 fields).
    forge(w.lm, M, 'entries.upserted', {
      loc,
      e: [
        ['planted.txt', 0, 5, now, 1, 'text'],
        ['a.txt', 0, 3, now, 1, 'text', 'f'.repeat(32)],
      ],
    });
    forge(w.lm, M, 'entries.deleted', { loc, keys: ['a.txt'] });
    forge(w.lm, M, 'entries.moved', { loc, moves: [['b.txt', 'moved.txt']] });
    forge(w.lm, M, 'location.updated', { id: loc, name: 'mine now' });
    forge(w.lm, M, 'location.removed', { id: loc });
    forge(w.lm, M, 'command.verified', { command: 'entry.rm', refs: [[w.a.device.id, 1]], ok: false, checks: [] });
    await w.received();
    // Nothing changed for A, or for C's view of A's files.
    t.is(rows(w.la), before);
    t.is(rows(w.lc), before);
    const ls = await w.a.query<{ entries: { name: string }[] }>('entry.ls', { path: root });
    t.deepEqual(ls.entries.map((e) => e.name).sort(), ['a.txt', 'b.txt']);
    t.falsy(w.la.db.prepare("SELECT 1 FROM locations WHERE path = '/etc'").get());
    // A's jobs and watcher act only on its own location: no job ever looked at /etc.
    const jobs = await w.a.query<{ loc: string | null }[]>('job.list', {});
    t.true(jobs.every((j) => j.loc === loc));
    for (const core of [w.a, w.c]) {
      const refused = refusedOf(await w.log(core), M.id);
      t.deepEqual(refused.sort(), [
        'command.verified:E_NOT_OWNER',
        'entries.deleted:E_NOT_OWNER',
        'entries.moved:E_NOT_OWNER',
        'entries.upserted:E_NOT_OWNER',
        'location.added:E_NOT_OWNER',
        'location.removed:E_NOT_OWNER',
        'location.updated:E_NOT_OWNER',
      ]);
    }
    const st = await w.a.query<{ refusedEvents: { device: string; code: string; count: number }[] }>('sync.status', {});
    t.deepEqual(st.refusedEvents, [{ device: M.id, name: 'mallory', code: 'E_NOT_OWNER', count: 7 }]);
    await w.intact(t);
  },
);

test.serial('a member can neither rewrite the roster nor revoke anyone; an admin can revoke it', async (t) => {
  const w = await trio(t);
  const M = w.m.device;
  const roster = (l: Library): string =>
    JSON.stringify(
      l.db.prepare('SELECT dev, pubkey, name, role, revoked_at, revoked_seq FROM devices ORDER BY dev').all(),
    );
  const before = roster(w.la);
  const ghost = randomBytes(32);
  forge(w.lm, M, 'library.created', {
    id: w.lib,
    name: 'hijacked',
    creator: { dev: w.a.device.id, pubkey: randomBytes(32), name: 'fake alpha' },
    nonce: 'n'.repeat(16),
    v: 2,
  });
  forge(w.lm, M, 'device.added', { dev: deviceIdOf(ghost), pubkey: ghost, name: 'ghost' });
  forge(w.lm, M, 'device.added', { dev: w.c.device.id, pubkey: randomBytes(32), name: 'charlie with a new key' });
  forge(w.lm, M, 'device.revoked', { dev: w.a.device.id, upTo: 0 });
  forge(w.lm, M, 'device.revoked', { dev: w.c.device.id, upTo: 0 });
  forge(w.lm, M, 'device.role', { dev: M.id, role: 'admin' });
  await w.received();
  t.is(roster(w.la), before);
  t.is(roster(w.lc), before);
  t.is(w.la.name, 'default');
  t.deepEqual(refusedOf(await w.log(w.a), M.id).sort(), [
    'device.added:E_NOT_ADMIN',
    'device.added:E_NOT_ADMIN',
    'device.revoked:E_NOT_ADMIN',
    'device.revoked:E_NOT_ALLOWED',
    'device.role:E_NOT_CREATOR',
    'library.created:E_NOT_CREATOR',
  ]);
  // C's later events still count everywhere.
  await w.c.command('device.rename', { name: 'charlie2' });
  await until('A sees C renamed', () => roster(w.la).includes('charlie2'));
  await w.intact(t);

  // A makes C an admin; C revokes M: M's link drops and its later events have no effect.
  await w.a.command('device.role', { device: 'charlie2', role: 'admin' });
  await until('C is an admin', () => roster(w.lc).includes('"admin"'));
  await w.c.command('device.revoke', { device: 'mallory' }, { library: w.lib, yes: true });
  await until(
    'A knows M is revoked',
    () => !!w.la.db.prepare('SELECT 1 FROM devices WHERE revoked_seq IS NOT NULL').get(),
  );
  await until('A dropped M', () => !w.a.peers!.online(M.id).online);
  const cut = w.la.db.prepare('SELECT revoked_seq, revoked_by FROM devices WHERE dev = ?').get(M.id);
  t.deepEqual(cut, { revoked_seq: w.lm.log.headOf(M.id).seq, revoked_by: w.c.device.id });
  await w.intact(t);
});

/** The raw link M holds to A, to send what its honest code never would. */
function linkOf(m: Core, peer: string): PeerLink {
  const actor = m.services!.network.getSnapshot().children[`peer:${peer}`];
  return (actor.getSnapshot().context as { link: PeerLink }).link;
}

test.serial(
  'shared metadata changes only through signed events: an automerge-repo message is ignored, a signed edit names its author',
  async (t) => {
    const w = await trio(t);
    await w.a.command('tag.create', { name: 'from-alpha' });
    await until('C has the tag', () => !!w.lc.db.prepare("SELECT 1 FROM tags WHERE name = 'from-alpha'").get());
    const tags = (l: Library): string => JSON.stringify(l.db.prepare('SELECT id, name FROM tags ORDER BY id').all());
    const before = tags(w.la);
    // An Automerge change on the tags document that no event carries, sent on the `am` channel.
    await w.lm.ensureShared(w.m.device.id);
    const doc = w.lm.shared.doc('tags');
    const forged = A.change(
      A.clone(doc),
      (d) => void (d.tags['evil'] = { name: 'unsigned', color: null, parent: null }),
    );
    const sync = A.generateSyncMessage(forged, A.initSyncState())[1]!;
    const link = linkOf(w.m, w.a.device.id);
    for (const bytes of [sync, pack({ t: 'msg', m: { type: 'sync', data: sync } }), ...A.getChanges(doc, forged)])
      link.send(`am:${w.lib}`, bytes);
    // A's own next tag command must not merge anything of it either.
    await w.a.command('tag.create', { name: 'second' });
    await until('C has the second tag', () => !!w.lc.db.prepare("SELECT 1 FROM tags WHERE name = 'second'").get());
    t.falsy(w.la.db.prepare("SELECT 1 FROM tags WHERE name = 'unsigned'").get());
    t.not(tags(w.la), before);
    t.is(tags(w.la), tags(w.lc));
    // A signed edit by the same member is a member's right, and the log names its author.
    await w.m.command('tag.create', { name: 'by-mallory' }, { library: w.lib });
    await until('A has M tag', () => !!w.la.db.prepare("SELECT 1 FROM tags WHERE name = 'by-mallory'").get());
    const rows = await w.log(w.a);
    t.true(rows.some((r) => r.device === w.m.device.id && r.type === 'shared.changed' && !r.refused));
    await w.intact(t);
  },
);

test.serial(
  "clock poisoning: a far-future event is refused, a near-future one never moves the victim's clock, a back-dated one changes no order",
  async (t) => {
    const w = await trio(t);
    const M = w.m.device;
    forge(w.lm, M, 'library.renamed', { name: 'year 275760' }, { ms: 8.64e15, c: 0 });
    forge(w.lm, M, 'library.renamed', { name: 'NaN' }, { ms: 1000, c: 2 ** 40 });
    const hour = Date.now() + 3_600_000;
    forge(w.lm, M, 'library.renamed', { name: 'an hour ahead' }, { ms: hour, c: 0 });
    forge(w.lm, M, 'device.renamed', { name: 'back-dated' }, { ms: 1000, c: 0 });
    await w.received();
    const rows = await w.log(w.a);
    const mine = rows.filter((r) => r.device === M.id);
    t.deepEqual(
      mine.filter((r) => r.refused).map((r) => r.refused!.code),
      ['E_BAD_CLOCK', 'E_BAD_CLOCK'],
    );
    t.true(
      mine.some((r) => r.future && !r.refused),
      'the near-future event is flagged',
    );
    // The victim's clock did not follow: its next event is dated now.
    await w.a.command('tag.create', { name: 'now' });
    const own = w.la.log.get(w.a.device.id, w.la.log.headOf(w.a.device.id).seq)!;
    t.true(own.hlc.ms < Date.now() + MAX_CLOCK_SKEW_MS, `A's clock moved to ${own.hlc.ms}`);
    // Nor after a restart.
    const dir = w.a.dataDir;
    await w.a.close();
    const again = await Core.open(dir, { services: false });
    t.teardown(() => again.close());
    const lib = again.libraries.resolve(w.lib);
    t.true(lib.log.clock.now().ms < Date.now() + MAX_CLOCK_SKEW_MS);
    // A replay orders nothing by clock: equal on the restarted A and on C.
    t.true((await again.query<{ equal: boolean }>('replay.check', {}, { library: w.lib })).equal);
    t.true((await w.c.query<{ equal: boolean }>('replay.check', {}, { library: w.lib })).equal);
    t.is(lib.name, w.lc.name);
  },
);

test.serial(
  'a link is bounded: huge and unknown events are not stored, made-up heads are ignored, repeated wants resend nothing',
  async (t) => {
    const w = await trio(t);
    const M = w.m.device;
    const link = linkOf(w.m, w.a.device.id);
    const ch = `feed:${w.lib}`;
    // 1,500,000 made-up devices in five heads messages.
    for (let i = 0; i < 5; i++)
      link.send(ch, pack({ t: 'heads', heads: Array.from({ length: 300_000 }, (_, j) => [`${i}-${j}`, 1]) }));
    // Wants for A's feed, from the start, over and over.
    const sent = (): number =>
      (w.a.peers!.status().peers.find((p) => p.device === M.id)?.libraries[0]?.sent as number | undefined) ?? 0;
    const sentBefore = sent();
    for (let i = 0; i < 200; i++) link.send(ch, pack({ t: 'want', dev: w.a.device.id, from: 1 }));
    await until('A refused the frames', () => {
      const r = w.a.peers!.status().refusals;
      return (r.E_BAD_FRAME ?? 0) >= 1 || (r.E_BAD_WANT ?? 0) >= 1 || !w.a.peers!.online(M.id).online;
    });
    t.true(sent() - sentBefore <= 0, `A sent ${sent() - sentBefore} events again`);
    const feeds = w.a.peers!.status().peers.flatMap((p) => p.libraries.flatMap((l) => l.feeds));
    t.true(feeds.length <= 3, `${feeds.length} feeds listed in sync status`);
    // Three events of 8 MB and an unknown type: none is stored; M's feed stops there.
    const headBefore = w.la.log.headOf(M.id).seq;
    for (let i = 0; i < 3; i++) forge(w.lm, M, 'x.unknown', { blob: randomBytes(8 * 1024 * 1024) });
    await until('A refused the huge events', () =>
      w.a.peers!.status().peers.some((p) => p.libraries.some((l) => (l.rejected.E_EVENT_TOO_LARGE ?? 0) > 0)),
    );
    t.is(w.la.log.headOf(M.id).seq, headBefore);
    t.falsy(w.la.db.prepare("SELECT 1 FROM events WHERE type = 'x.unknown'").get());
    // A small event of an unknown type is kept (the chain needs it) but has no effect.
    await w.intact(t);
  },
);

test.serial(
  'replay covers the name index and reports a mangled event; a rebuild repairs drifted projections',
  async (t) => {
    const dir = tempDir(t);
    const core = await Core.open(dir);
    let open = true;
    t.teardown(() => open && core.close());
    const root = realpathSync(tempDir(t, 'sd-loc-'));
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'beach.jpg'), 'jpg');
    await core.command('location.add', { path: root, watch: false });
    await idle(core);
    const lib = core.libraries.resolve();
    lib.flushSearchIndex();
    const id = (lib.db.prepare("SELECT id FROM entries WHERE name = 'beach.jpg'").get() as { id: number }).id;
    // A planted name-index row makes a made-up word find the file; replay notices.
    lib.db.prepare('INSERT INTO entries_fts (rowid, name) VALUES (?, ?)').run(id, 'zqxmadeup');
    const found = await core.query<{ name: string }[]>('search', { query: 'zqxmadeup' });
    t.deepEqual(
      found.map((r) => r.name),
      ['beach.jpg'],
    );
    lib.db.prepare("UPDATE entries_t SET size = 999 WHERE name = 'beach.jpg'").run();
    const r = await core.query<{ equal: boolean; differing: string[] }>('replay.check', {});
    t.false(r.equal);
    t.deepEqual(r.differing.sort(), ['entries', 'search index']);
    await core.close();
    open = false;
    const { doctor } = await import('../../src/ops/doctor/check.js');
    const d = await doctor(dir);
    t.false(d.ok);
    t.true(
      d.libraries[0]!.advice.some((a) => a.includes('sd replay --rebuild')),
      JSON.stringify(d.libraries[0]!.advice),
    );
    const { rebuildLibraries } = await import('../../src/ops/doctor/rebuild.js');
    const seen: number[] = [];
    const [rep] = await rebuildLibraries(dir, undefined, (_n, done) => seen.push(done));
    t.true(seen.length > 0 && rep!.events > 0);
    t.true((await doctor(dir)).ok);
    const again = await Core.open(dir, { services: false });
    t.teardown(() => again.close());
    t.deepEqual(await again.query<unknown[]>('search', { query: 'zqxmadeup' }), []);
    t.true((await again.query<{ equal: boolean }>('replay.check', {})).equal);
    // A mangled event is reported by replay, not thrown.
    const l2 = again.libraries.resolve();
    l2.db.prepare('UPDATE events SET bytes = ? WHERE dev = ? AND seq = 2').run(Buffer.from([0xc1]), again.device.id);
    const m = await again.query<{ equal: boolean; mangled: { seq: number }[] }>('replay.check', {});
    t.false(m.equal);
    t.deepEqual(
      m.mangled.map((x) => x.seq),
      [2],
    );
  },
);
