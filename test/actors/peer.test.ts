// The per-device machine of NetworkService, tested as a model: every state and transition the
// machine can reach is walked, on a real actor with its effects stubbed at the actor boundary and
// its backoff and deadlines on XState's simulated clock. Then the behaviour a user relies on:
// backoff grows and is capped, a dropped link is redialed at the preferred address, the
// duplicate-link rule is the same on both sides, a revoked device stays revoked.
import test from 'ava';
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from 'xstate';
import {
  BACKOFF_MAX_MS,
  DIAL_DEADLINE_MS,
  PROBE_EVERY_MS,
  keepIncoming,
  peerMachine,
  type PeerAddr,
  type PeerContext,
} from '../../src/actors/network/peer.js';
import type { MessageTransport, PeerLink } from '../../src/transport/types.js';
import { declaredStates, edgesOf, walkEveryState } from '../support/model.js';

const fakeLink = (peerId: string, name: string): PeerLink => ({ peerId, name, isOpen: true }) as unknown as PeerLink;
const A1 = { host: '127.0.0.1', port: 4001 };
const A2 = { host: '127.0.0.2', port: 4002 };

/** The machine with every effect a stub that never finishes: the test drives their outcomes. */
function stubbed(log: string[] = []) {
  return peerMachine.provide({
    actors: {
      connect: fromPromise<MessageTransport, { addresses: PeerAddr[] }>(() => new Promise(() => undefined)),
      handshake: fromPromise<PeerLink, { transport: MessageTransport; dev: string }>(
        () => new Promise(() => undefined),
      ),
      watch: fromCallback(() => () => undefined),
      upgrade: fromCallback(() => () => undefined),
      rendezvous: fromCallback(() => () => undefined),
    },
    actions: {
      linkUp: ({ context }) => void log.push(`up:${(context.rtc ?? context.link) ? 'link' : 'none'}`),
      linkDown: () => void log.push('down'),
      closeLink: () => void log.push('close'),
      closeIncoming: () => void log.push('refuse'),
      closeStray: () => void log.push('stray'),
      closeReplaced: () => void log.push('replaced'),
    },
  });
}

const input = { dev: 'bbbb', self: 'cccc', addresses: [A1], webrtc: true, rendezvous: true };
const offer = { type: 'description', sdp: 'v=0', descType: 'offer' } as const;
const link = fakeLink('bbbb', 'L');

function events(snap: { context: PeerContext }): (EventObject & Record<string, unknown>)[] {
  const c = snap.context;
  return [
    { type: 'ADDRESS', address: A2 },
    { type: 'FORGET', address: A1 },
    { type: 'INBOUND', link: fakeLink('bbbb', 'in') },
    { type: 'INBOUND', link: fakeLink('bbbb', 'mine'), outbound: true },
    ...(c.link ? [{ type: 'LINK_CLOSED', link: c.link, code: 'E_HEARTBEAT', message: 'silent' }] : []),
    { type: 'RTC_UP', link: fakeLink('bbbb', 'rtc') },
    ...(c.rtc ? [{ type: 'RTC_DOWN', link: c.rtc }] : []),
    { type: 'PAUSE' },
    { type: 'RESUME' },
    { type: 'REVOKED' },
    { type: 'STOP' },
    { type: 'xstate.done.actor.connect', output: { remoteAddress: '127.0.0.1:4001' } },
    { type: 'xstate.error.actor.connect', error: Object.assign(new Error('refused'), { code: 'E_PEER_UNREACHABLE' }) },
    { type: 'xstate.done.actor.handshake', output: link },
    { type: 'xstate.error.actor.handshake', error: Object.assign(new Error('who?'), { code: 'E_UNEXPECTED_PEER' }) },
    { type: 'xstate.after.backoff.peer.backoff' },
    { type: 'xstate.after.dialDeadline.peer.dialing' },
    { type: 'xstate.after.dialDeadline.peer.handshaking' },
    // Through the members: a member that reaches the device, a call, offers (to link, to probe),
    // and the outcomes of the rendezvous under way.
    { type: 'RELAY', via: 'nnnn', up: true },
    { type: 'RELAY', via: 'nnnn', up: false },
    { type: 'CALL' },
    { type: 'ICE_CHANGED' },
    { type: 'SIGNAL', via: 'nnnn', sid: 'theirs', purpose: 'link', signal: offer },
    { type: 'SIGNAL', via: 'nnnn', sid: 'probe', purpose: 'probe', signal: offer },
    ...(c.sid
      ? [
          { type: 'RV_UP', sid: c.sid, link: fakeLink('bbbb', 'relayed'), relayed: true },
          { type: 'RV_UP', sid: c.sid, link: fakeLink('bbbb', 'direct'), relayed: false },
          { type: 'RV_FAILED', sid: c.sid, code: 'E_WEBRTC_TIMEOUT', message: 'no path' },
        ]
      : []),
    { type: 'xstate.after.dialDeadline.peer.calling' },
    { type: 'xstate.after.dialDeadline.peer.answering' },
    { type: 'xstate.after.probeEvery.peer.linked.relayed.waiting' },
    { type: 'xstate.after.dialDeadline.peer.linked.relayed.probing' },
    { type: 'xstate.after.dialDeadline.peer.linked.relayed.answeringProbe' },
  ];
}

const key = (s: { value: unknown; context: PeerContext }): string =>
  JSON.stringify([
    s.value,
    !!s.context.link,
    !!s.context.rtc,
    s.context.addresses.length > 0,
    s.context.outbound,
    s.context.relays.length > 0,
    s.context.lastTry,
    s.context.sid !== null,
  ]);
const delayOf = (e: EventObject, s: { context: PeerContext }): number =>
  e.type.includes('backoff')
    ? Math.min(BACKOFF_MAX_MS, 250 * 2 ** Math.min(s.context.attempts, 7))
    : e.type.includes('probeEvery')
      ? PROBE_EVERY_MS
      : DIAL_DEADLINE_MS;

test('every state of the peer machine is reached, on a real actor, by its shortest path', (t) => {
  const machine = stubbed();
  const visited = walkEveryState(t, {
    machine,
    input,
    events: events as never,
    key: key as never,
    delayOf: delayOf as never,
  });
  t.deepEqual([...visited].sort(), declaredStates(machine).sort());
});

test('every transition the machine declares is taken by some event the model tries', (t) => {
  const machine = stubbed();
  const { edges } = edgesOf({ machine, input, events: events as never, key: key as never });
  // Each declared (state, event type) pair that can change the state appears among the edges.
  const taken = new Set(edges.map((e) => `${JSON.stringify(JSON.parse(e.from)[0])} ${e.event.type}`));
  const expected = [
    ['"idle"', 'INBOUND'],
    ['"dialing"', 'xstate.done.actor.connect'],
    ['"dialing"', 'xstate.error.actor.connect'],
    ['"dialing"', 'xstate.after.dialDeadline.peer.dialing'],
    ['"dialing"', 'INBOUND'],
    ['"handshaking"', 'xstate.done.actor.handshake'],
    ['"handshaking"', 'xstate.error.actor.handshake'],
    ['"handshaking"', 'xstate.after.dialDeadline.peer.handshaking'],
    ['{"linked":"ws"}', 'LINK_CLOSED'],
    ['{"linked":"ws"}', 'RTC_UP'],
    ['{"linked":"ws"}', 'INBOUND'],
    ['{"linked":"webrtc"}', 'RTC_DOWN'],
    ['{"linked":"webrtc"}', 'LINK_CLOSED'],
    ['"backoff"', 'xstate.after.backoff.peer.backoff'],
    ['"backoff"', 'INBOUND'],
    ['"backoff"', 'ADDRESS'],
    ['"paused"', 'RESUME'],
    ['{"linked":"ws"}', 'REVOKED'],
    ['"backoff"', 'STOP'],
    ['{"linked":"ws"}', 'PAUSE'],
    ['"idle"', 'SIGNAL'],
    ['"backoff"', 'CALL'],
    ['"backoff"', 'SIGNAL'],
    ['"dialing"', 'SIGNAL'],
    ['"calling"', 'RV_UP'],
    ['"calling"', 'RV_FAILED'],
    ['"calling"', 'SIGNAL'],
    ['"calling"', 'xstate.after.dialDeadline.peer.calling'],
    ['"answering"', 'RV_UP'],
    ['"answering"', 'RV_FAILED'],
    ['"answering"', 'xstate.after.dialDeadline.peer.answering'],
    ['{"linked":{"relayed":"waiting"}}', 'xstate.after.probeEvery.peer.linked.relayed.waiting'],
    ['{"linked":{"relayed":"waiting"}}', 'SIGNAL'],
    ['{"linked":{"relayed":"probing"}}', 'RV_UP'],
    ['{"linked":{"relayed":"probing"}}', 'RV_FAILED'],
    ['{"linked":{"relayed":"probing"}}', 'xstate.after.dialDeadline.peer.linked.relayed.probing'],
    ['{"linked":{"relayed":"answeringProbe"}}', 'RV_UP'],
    ['{"linked":"direct"}', 'LINK_CLOSED'],
  ];
  for (const [state, type] of expected) t.true(taken.has(`${state} ${type}`), `${state} --${type}--> not taken`);
});

test('backoff doubles from half a second and is capped at 30 s, and a link that dropped retries its first address', (t) => {
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(), { input: { ...input, addresses: [A1, A2] }, clock });
  actor.start();
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) {
    t.is(actor.getSnapshot().value, 'dialing');
    actor.send({ type: 'xstate.error.actor.connect', error: new Error('no') } as never);
    t.is(actor.getSnapshot().value, 'backoff');
    const before = clock.now();
    let waited = 0;
    while (actor.getSnapshot().value === 'backoff' && waited < 60_000) {
      clock.increment(50);
      waited += 50;
    }
    seen.push(clock.now() - before);
  }
  t.deepEqual(seen.slice(0, 4), [500, 1000, 2000, 4000]);
  t.true(
    seen.every((ms) => ms <= BACKOFF_MAX_MS),
    JSON.stringify(seen),
  );
  t.is(seen[seen.length - 1], BACKOFF_MAX_MS);
  // Failed dials went round the addresses; once linked, a dropped link starts over at the first.
  actor.send({ type: 'xstate.done.actor.connect', output: {} } as never);
  actor.send({ type: 'xstate.done.actor.handshake', output: link } as never);
  t.deepEqual(actor.getSnapshot().value, { linked: 'ws' });
  actor.send({ type: 'LINK_CLOSED', link, code: 'E_HEARTBEAT', message: '' });
  t.is(actor.getSnapshot().context.next, 0);
  t.is(actor.getSnapshot().context.attempts, 0);
  clock.increment(250);
  t.is(actor.getSnapshot().value, 'dialing');
  actor.stop();
});

test('a resumed peer is dialed at once, not after a backoff; a paused one is never dialed', (t) => {
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(), { input: { ...input, addresses: [A1] }, clock });
  actor.start();
  actor.send({ type: 'PAUSE' });
  clock.increment(BACKOFF_MAX_MS * 2);
  t.is(actor.getSnapshot().value, 'paused', 'nothing dials while paused');
  actor.send({ type: 'RESUME' });
  t.is(actor.getSnapshot().value, 'dialing', 'dialed with no time passing');
  t.is(actor.getSnapshot().context.attempts, 1);
  // A device with no address and no member to call through waits idle for one.
  const none = createActor(stubbed(), { input: { ...input, addresses: [], relays: [] }, clock });
  none.start();
  none.send({ type: 'PAUSE' });
  none.send({ type: 'RESUME' });
  t.is(none.getSnapshot().value, 'idle');
  actor.stop();
  none.stop();
});

test('two links to one device: both sides keep the one dialed by the smaller id, the newer of two from one dialer', (t) => {
  // a < b. Each side holds the link it dialed and receives the other's.
  const atA = { self: 'aaaa', dev: 'bbbb', outbound: true };
  const atB = { self: 'bbbb', dev: 'aaaa', outbound: true };
  t.false(keepIncoming(atA), 'A keeps its own dial (a < b)');
  t.true(keepIncoming(atB), "B takes A's dial");
  // A redialed after its old link died at its end: B takes the newer link from A.
  t.true(keepIncoming({ self: 'bbbb', dev: 'aaaa', outbound: false }));
  // The machine applies it: B, linked on its own dial, keeps A's incoming link and closes its own.
  const log: string[] = [];
  const b = createActor(stubbed(log), { input: { dev: 'aaaa', self: 'bbbb', addresses: [A1], webrtc: false } });
  b.start();
  b.send({ type: 'xstate.done.actor.connect', output: {} } as never);
  b.send({ type: 'xstate.done.actor.handshake', output: fakeLink('aaaa', 'b-dialed') } as never);
  const incoming = fakeLink('aaaa', 'a-dialed');
  b.send({ type: 'INBOUND', link: incoming });
  t.is(b.getSnapshot().context.link, incoming);
  t.deepEqual(log, ['up:link', 'close', 'down', 'up:link']);
  b.stop();
});

test('a revoked device stays revoked: no dial, no link, whatever comes', (t) => {
  const log: string[] = [];
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(log), { input, clock });
  actor.start();
  actor.send({ type: 'REVOKED' });
  for (const e of events({ context: actor.getSnapshot().context })) {
    actor.send(e as never);
    clock.increment(60_000);
  }
  t.is(actor.getSnapshot().value, 'revoked');
  t.is(actor.getSnapshot().status, 'done');
});

test('a device only members reach is called through one; a direct path found later replaces the relayed link with no gap', (t) => {
  const log: string[] = [];
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(log), {
    input: { dev: 'bbbb', self: 'cccc', addresses: [], webrtc: false, rendezvous: true, relays: ['nnnn'] },
    clock,
  });
  actor.start();
  t.is(actor.getSnapshot().value, 'calling');
  t.is(actor.getSnapshot().context.via, 'nnnn');
  const call = actor.getSnapshot().context.sid!;
  // A late result of another rendezvous is closed, not adopted.
  actor.send({ type: 'RV_UP', sid: 'other', link: fakeLink('bbbb', 'stray'), relayed: true });
  t.is(actor.getSnapshot().value, 'calling');
  const relayed = fakeLink('bbbb', 'relayed');
  actor.send({ type: 'RV_UP', sid: call, link: relayed, relayed: true });
  t.deepEqual(actor.getSnapshot().value, { linked: { relayed: 'waiting' } });
  clock.increment(PROBE_EVERY_MS);
  t.deepEqual(actor.getSnapshot().value, { linked: { relayed: 'probing' } });
  const probe = actor.getSnapshot().context.sid!;
  t.not(probe, call);
  // A probe that finds no direct path leaves the relayed link as it was.
  actor.send({ type: 'RV_FAILED', sid: probe, code: 'E_NO_DIRECT_PATH', message: 'relay only' });
  t.deepEqual(actor.getSnapshot().value, { linked: { relayed: 'waiting' } });
  t.is(actor.getSnapshot().context.link, relayed);
  clock.increment(PROBE_EVERY_MS);
  const direct = fakeLink('bbbb', 'direct');
  actor.send({ type: 'RV_UP', sid: actor.getSnapshot().context.sid!, link: direct, relayed: false });
  t.deepEqual(actor.getSnapshot().value, { linked: 'direct' });
  t.is(actor.getSnapshot().context.link, direct);
  // Sessions were told of the better link, never of a link down.
  t.deepEqual(log, ['stray', 'up:link', 'replaced', 'up:link']);
  // The member stops reaching the device: the direct link stays.
  actor.send({ type: 'RELAY', via: 'nnnn', up: false });
  t.deepEqual(actor.getSnapshot().value, { linked: 'direct' });
  actor.stop();
});

test('glare: two devices that call each other at once end with one call, whatever ids the calls carry', (t) => {
  // Each actor's rendezvous records the signalling handed to its session.
  const handed: Record<string, string[]> = { aaaa: [], bbbb: [] };
  const machine = (self: string) =>
    stubbed().provide({
      actors: {
        rendezvous: fromCallback(({ receive }) => {
          receive((e) => void handed[self]!.push((e as { signal: { descType?: string } }).signal.descType ?? '?'));
          return () => undefined;
        }),
      },
    });
  const start = (self: string, dev: string) => {
    const a = createActor(machine(self), {
      input: { dev, self, addresses: [], webrtc: false, rendezvous: true, relays: ['nnnn'] },
    });
    a.start();
    return a;
  };
  const a = start('aaaa', 'bbbb');
  const b = start('bbbb', 'aaaa');
  const [sa, sb] = [a.getSnapshot().context.sid!, b.getSnapshot().context.sid!];
  t.not(sa, sb, 'two devices in one process number their calls apart');
  // An offer under A's own call id (two processes' ids may collide) is handed to no session.
  a.send({ type: 'SIGNAL', via: 'nnnn', sid: sa, purpose: 'link', signal: offer });
  t.deepEqual(handed.aaaa, []);
  // B's offer reaches A. A, whose peer has the larger id, wins the glare, but B may never have had
  // A's offer (B restarted since): A calls again, handing B's offer to no session.
  a.send({ type: 'SIGNAL', via: 'nnnn', sid: sb, purpose: 'link', signal: offer });
  t.is(a.getSnapshot().value, 'calling');
  const sa2 = a.getSnapshot().context.sid!;
  t.not(sa2, sa);
  t.deepEqual(handed.aaaa, []);
  // A's first offer reaches B: B drops its own call and answers it; A's second offer moves B to it.
  b.send({ type: 'SIGNAL', via: 'nnnn', sid: sa, purpose: 'link', signal: offer });
  t.is(b.getSnapshot().value, 'answering');
  t.is(b.getSnapshot().context.sid, sa);
  b.send({ type: 'SIGNAL', via: 'nnnn', sid: sa2, purpose: 'link', signal: offer });
  t.is(b.getSnapshot().value, 'answering');
  t.is(b.getSnapshot().context.sid, sa2);
  // B's answer reaches A's call; an answer to the call A dropped reaches nothing.
  a.send({ type: 'SIGNAL', via: 'nnnn', sid: sa, purpose: 'link', signal: { ...offer, descType: 'answer' } });
  a.send({ type: 'SIGNAL', via: 'nnnn', sid: sa2, purpose: 'link', signal: { ...offer, descType: 'answer' } });
  t.deepEqual(handed.aaaa, ['answer']);
  a.stop();
  b.stop();
});

test('a call under way or failed is made again as soon as a member hands over STUN/TURN servers, not after the backoff', (t) => {
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(), {
    input: { dev: 'bbbb', self: 'cccc', addresses: [], webrtc: false, rendezvous: true, relays: ['nnnn'] },
    clock,
  });
  actor.start();
  // A call under way when the servers come starts again with them.
  const gathered = actor.getSnapshot().context.sid!;
  actor.send({ type: 'ICE_CHANGED' });
  t.is(actor.getSnapshot().value, 'calling');
  const first = actor.getSnapshot().context.sid!;
  t.not(first, gathered);
  actor.send({ type: 'RV_FAILED', sid: first, code: 'E_WEBRTC_TIMEOUT', message: 'no path without TURN' });
  t.is(actor.getSnapshot().value, 'backoff');
  actor.send({ type: 'ICE_CHANGED' });
  t.is(actor.getSnapshot().value, 'calling');
  t.not(actor.getSnapshot().context.sid, first, 'a new call');
  // Linked already: new servers change nothing.
  actor.send({ type: 'RV_UP', sid: actor.getSnapshot().context.sid!, link: fakeLink('bbbb', 'r'), relayed: false });
  actor.send({ type: 'ICE_CHANGED' });
  t.deepEqual(actor.getSnapshot().value, { linked: 'direct' });
  actor.stop();
});

test('a device in backoff that a member says it reaches again is tried at once, not after the backoff', (t) => {
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(), { input: { ...input, webrtc: false }, clock });
  actor.start();
  t.is(actor.getSnapshot().value, 'dialing');
  actor.send({ type: 'xstate.error.actor.connect', error: new Error('down') } as never);
  t.is(actor.getSnapshot().value, 'backoff');
  // The member says the device is back: dialed now.
  actor.send({ type: 'RELAY', via: 'nnnn', up: true });
  t.is(actor.getSnapshot().value, 'dialing');
  t.is(actor.getSnapshot().context.attempts, 1, 'the backoff starts over');
  actor.stop();
  // Without an address, the member is called through.
  const b = createActor(stubbed(), {
    input: { dev: 'bbbb', self: 'cccc', addresses: [], webrtc: false, rendezvous: true, relays: ['nnnn'] },
    clock,
  });
  b.start();
  b.send({ type: 'RV_FAILED', sid: b.getSnapshot().context.sid!, code: 'E_WEBRTC_TIMEOUT', message: 'x' });
  b.send({ type: 'RELAY', via: 'nnnn', up: false });
  t.is(b.getSnapshot().value, 'backoff');
  b.send({ type: 'RELAY', via: 'mmmm', up: true });
  t.is(b.getSnapshot().value, 'calling');
  t.is(b.getSnapshot().context.via, 'mmmm');
  b.stop();
});
