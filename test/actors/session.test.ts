// The per-(peer, library) session machine of SyncService, tested as a model: every state and
// transition is walked on a real actor whose feed is a stub; then what a user sees: a session
// announces, catches up while either side lacks events, is live once level, and committed events
// reach the feed; and SyncService starts sessions for linked members, moves them to a better link,
// and stops them on revocation.
import test from 'ava';
import { createActor, fromCallback, type EventObject } from 'xstate';
import { sessionMachine, type SessionContext, type SessionEvent } from '../../src/actors/sync/session.js';
import { syncServiceMachine } from '../../src/actors/sync/service.js';
import { declaredStates, edgesOf, walkEveryState } from '../support/model.js';

const balance = (behind: number, ahead: number) => ({
  behind,
  ahead,
  received: 0,
  sent: 0,
  lastError: null,
  feeds: [],
});

function stubbed(seen: SessionEvent[] = []) {
  return sessionMachine.provide({
    actors: {
      feed: fromCallback<SessionEvent, { peer: string; lib: string; link: unknown }>(({ receive }) => {
        receive((e) => void seen.push(e));
        return () => undefined;
      }),
    },
  });
}

const input = { peer: 'pppp', lib: 'llll', link: {} };
const events = (): (EventObject & Record<string, unknown>)[] => [
  { type: 'HEADS', ...balance(0, 0) },
  { type: 'HEADS', ...balance(3, 0) },
  { type: 'PROGRESS', ...balance(0, 0) },
  { type: 'PROGRESS', ...balance(0, 2) },
  { type: 'COMMITTED', dev: 'dddd', seq: 1, evType: 'tag' },
  { type: 'COMMITTED_GROUP', events: [{ dev: 'dddd', seq: 2, evType: 'tag' }] },
  { type: 'REFUSED', code: 'E_BAD_FRAME', message: 'x' },
  { type: 'CLOSE' },
];
const key = (s: { value: unknown; context: SessionContext }): string => JSON.stringify(s.value);

test('every state of the session machine is reached by its shortest path, and every transition taken', (t) => {
  const machine = stubbed();
  const visited = walkEveryState(t, { machine, input, events: events as never, key: key as never });
  t.deepEqual([...visited].sort(), declaredStates(machine).sort());
  const { edges } = edgesOf({ machine, input, events: events as never, key: key as never });
  const taken = new Set(edges.map((e) => `${e.from} ${e.event.type} ${e.to}`));
  for (const want of [
    '"announcing" HEADS "live"',
    '"announcing" HEADS "catchingUp"',
    '"catchingUp" PROGRESS "live"',
    '"catchingUp" HEADS "live"',
    '"live" PROGRESS "catchingUp"',
    '"live" HEADS "catchingUp"',
    '"live" CLOSE "closed"',
    '"announcing" CLOSE "closed"',
  ])
    t.true(taken.has(want), `${want} not taken`);
});

test('a session catches up, goes live when level, counts refusals, and hands committed events to its feed', (t) => {
  const seen: SessionEvent[] = [];
  const a = createActor(stubbed(seen), { input });
  a.start();
  t.is(a.getSnapshot().value, 'announcing');
  a.send({ type: 'HEADS', ...balance(120, 3) });
  t.is(a.getSnapshot().value, 'catchingUp');
  t.is(a.getSnapshot().context.behind, 120);
  a.send({ type: 'PROGRESS', ...balance(20, 0) });
  t.is(a.getSnapshot().value, 'catchingUp');
  a.send({ type: 'PROGRESS', ...balance(0, 0) });
  t.is(a.getSnapshot().value, 'live');
  a.send({ type: 'COMMITTED', dev: 'dddd', seq: 7, evType: 'shared.changed' });
  t.deepEqual(seen, [{ type: 'COMMITTED', dev: 'dddd', seq: 7, evType: 'shared.changed' }]);
  a.send({ type: 'REFUSED', code: 'E_BAD_WANT', message: 'again' });
  a.send({ type: 'REFUSED', code: 'E_BAD_WANT', message: 'again' });
  t.deepEqual(a.getSnapshot().context.refused, { E_BAD_WANT: 2 });
  a.send({ type: 'CLOSE' });
  t.is(a.getSnapshot().status, 'done');
});

test('SyncService: sessions for the libraries a linked peer belongs to, moved to a new link, stopped on revocation', (t) => {
  const members = new Set(['peer1 lib1', 'peer1 lib2', 'peer2 lib1']);
  const told: string[] = [];
  const machine = syncServiceMachine.provide({
    actors: { session: stubbed() },
    guards: { member: (_, p) => members.has(`${p.peer} ${p.lib}`) },
    actions: { revoked: (_, p) => void told.push(`revoked ${p.peer}`) },
  });
  const s = createActor(machine, { input: { libraries: () => ['lib1', 'lib2'] } });
  s.start();
  const sessions = (): string[] =>
    Object.keys(s.getSnapshot().children)
      .map((id) => id.replace(/:\d+$/, ''))
      .sort();
  t.is(s.getSnapshot().value, 'idle');
  s.send({ type: 'LINK_UP', peer: 'peer1', link: 'ws' });
  t.is(s.getSnapshot().value, 'syncing');
  t.deepEqual(sessions(), ['session:peer1:lib1', 'session:peer1:lib2']);
  // A better link (WebRTC) replaces the sessions: new actors on the new link.
  const before = Object.keys(s.getSnapshot().children);
  s.send({ type: 'LINK_UP', peer: 'peer1', link: 'rtc' });
  t.deepEqual(sessions(), ['session:peer1:lib1', 'session:peer1:lib2']);
  t.notDeepEqual(Object.keys(s.getSnapshot().children), before);
  // A peer that is not a member yet gets a session once its device.added is committed.
  s.send({ type: 'LINK_UP', peer: 'peer3', link: 'ws' });
  t.false(sessions().some((x) => x.includes('peer3')));
  members.add('peer3 lib2');
  s.send({ type: 'COMMITTED', lib: 'lib2', dev: 'peer1', seq: 9, evType: 'device.added', body: { dev: 'peer3' } });
  t.true(sessions().includes('session:peer3:lib2'));
  // Revoked in lib1: its session there stops and NetworkService is told.
  members.delete('peer1 lib1');
  s.send({ type: 'COMMITTED', lib: 'lib1', dev: 'admin', seq: 3, evType: 'device.revoked', body: { dev: 'peer1' } });
  t.false(sessions().includes('session:peer1:lib1'));
  t.deepEqual(told, ['revoked peer1']);
  s.send({ type: 'LINK_DOWN', peer: 'peer1' });
  s.send({ type: 'LINK_DOWN', peer: 'peer3' });
  t.deepEqual(sessions(), []);
  t.is(s.getSnapshot().value, 'idle');
  s.stop();
});

test('SyncService: a committed group reaches each session of its library as one message; its revocations and joins still count', (t) => {
  const members = new Set(['peer1 lib1', 'peer2 lib1', 'peer2 lib2']);
  const seen: Record<string, SessionEvent[]> = {};
  const told: string[] = [];
  const machine = syncServiceMachine.provide({
    actors: {
      session: sessionMachine.provide({
        actors: {
          feed: fromCallback<SessionEvent, { peer: string; lib: string; link: unknown }>(({ receive, input }) => {
            receive((e) => void (seen[`${input.peer} ${input.lib}`] ??= []).push(e));
            return () => undefined;
          }),
        },
      }),
    },
    guards: { member: (_, p) => members.has(`${p.peer} ${p.lib}`) },
    actions: { revoked: (_, p) => void told.push(`revoked ${p.peer} in ${p.lib}`) },
  });
  const s = createActor(machine, { input: { libraries: () => ['lib1', 'lib2'] } });
  s.start();
  s.send({ type: 'LINK_UP', peer: 'peer1', link: 'ws' });
  s.send({ type: 'LINK_UP', peer: 'peer2', link: 'ws' });
  s.send({ type: 'LINK_UP', peer: 'peer3', link: 'ws' });
  const sessions = (): string[] =>
    Object.keys(s.getSnapshot().children)
      .map((id) => id.replace(/:\d+$/, ''))
      .sort();
  t.deepEqual(sessions(), ['session:peer1:lib1', 'session:peer2:lib1', 'session:peer2:lib2']);
  // 500 events in one group, peer3 joining lib1 and peer1 revoked there among them.
  members.add('peer3 lib1');
  members.delete('peer1 lib1');
  const group = Array.from({ length: 500 }, (_, i) => ({ dev: 'admin', seq: i + 1, evType: 'tag', body: {} }));
  group[100] = { dev: 'admin', seq: 101, evType: 'device.added', body: { dev: 'peer3' } };
  group[200] = { dev: 'admin', seq: 201, evType: 'device.revoked', body: { dev: 'peer1' } };
  s.send({ type: 'COMMITTED_GROUP', lib: 'lib1', events: group });
  t.deepEqual(sessions(), ['session:peer2:lib1', 'session:peer2:lib2', 'session:peer3:lib1']);
  t.deepEqual(told, ['revoked peer1 in lib1']);
  const got = seen['peer2 lib1'] ?? [];
  t.is(got.length, 1, 'one message for the group');
  t.deepEqual(
    (got[0] as { events: { seq: number }[] }).events.map((e) => e.seq),
    group.map((e) => e.seq),
  );
  t.false('peer2 lib2' in seen, 'sessions of another library hear nothing');
  // A single COMMITTED is a group of one.
  s.send({ type: 'COMMITTED', lib: 'lib2', dev: 'admin', seq: 9, evType: 'tag', body: {} });
  t.deepEqual(seen['peer2 lib2'], [{ type: 'COMMITTED_GROUP', events: [{ dev: 'admin', seq: 9, evType: 'tag' }] }]);
  s.stop();
});
