// JobManager as a machine, its job actors' phases and its watchers stubbed at the actor boundary
// and shutdown's grace on XState's simulated clock: two jobs run at once and the rest keep their
// order; a location this device adds in its log gets an index job and a watcher, whoever wrote the
// command; a removal cancels; watcher changes wait for the location's running job and then make
// one rescan; a restart restores and reconciles; shutdown pauses what runs, closing the threads
// under a job that does not stop within its grace.
import test from 'ava';
import { createActor, fromCallback, SimulatedClock, type AnyActorRef } from 'xstate';
import { jobMachine, type JobContext, type PhasesInput } from '../../src/actors/jobs/job.js';
import {
  jobsMachine,
  STOP_GRACE_MS,
  THREADS_GRACE_MS,
  type JobsContext,
  type JobsEvent,
} from '../../src/actors/jobs/service.js';
import { watcherMachine } from '../../src/actors/jobs/watcher.js';

const SELF = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);
const LOC = `cccccccccc.${SELF}`;
const THEIRS = `dddddddddd.${OTHER}`;

interface Log {
  ran: string[];
  aborted: string[];
  saved: string[];
  released: number;
  closed: number;
}

function harness(clock?: SimulatedClock) {
  const log: Log = { ran: [], aborted: [], saved: [], released: 0, closed: 0 };
  const job = jobMachine.provide({
    actors: {
      phases: fromCallback<{ type: 'ABORT' }, PhasesInput>(({ input, receive }) => {
        log.ran.push(input.id);
        receive(() => void log.aborted.push(input.id));
      }),
    },
    actions: {
      persist: ({ context }, { state }) => void log.saved.push(`${context.id}:${state}`),
      countResume: () => undefined,
      announce: () => undefined,
      diskFull: () => undefined,
    },
  });
  const watcher = watcherMachine.provide({ actors: { fsEvents: fromCallback(() => () => undefined) } });
  const machine = jobsMachine.provide({
    actors: { job, watcher },
    actions: { releaseThreads: () => void log.released++, closeThreads: () => void log.closed++ },
  });
  let n = 0;
  const actor = createActor(machine, {
    input: { self: SELF, concurrency: 2, newId: () => `n${++n}` },
    ...(clock ? { clock } : {}),
  });
  actor.start();
  const ctx = (): JobsContext => actor.getSnapshot().context;
  const kid = (id: string): AnyActorRef | undefined =>
    (actor.getSnapshot().children as Record<string, AnyActorRef>)[id];
  const jobState = (id: string): unknown => kid(`job:${id}`)?.getSnapshot().value;
  const jobInput = (id: string): unknown => (kid(`job:${id}`)?.getSnapshot().context as JobContext).input;
  const send = (e: JobsEvent): void => actor.send(e);
  const enqueue = (id: string, loc: string | null = null): void =>
    send({ type: 'ENQUEUE', job: { id, lib: 'L', kind: 'index', loc, input: { loc } } });
  const finish = (id: string): void => kid(`job:${id}`)!.send({ type: 'PHASES_DONE' });
  const committed = (evType: string, body: unknown, dev = SELF): void =>
    send({ type: 'COMMITTED', lib: 'L', dev, seq: 1, evType, body });
  return { actor, log, ctx, kid, jobState, jobInput, send, enqueue, finish, committed };
}

test('two jobs run at once; the others wait in the order they came, and a freed slot goes to the next', (t) => {
  const h = harness();
  t.is(h.actor.getSnapshot().value, 'offline');
  h.enqueue('x');
  t.is(h.kid('job:x'), undefined, 'no job is taken before jobs are started');
  h.send({ type: 'START' });
  t.is(h.actor.getSnapshot().value, 'idle');
  for (const id of ['j1', 'j2', 'j3', 'j4', 'j5']) h.enqueue(id);
  t.is(h.actor.getSnapshot().value, 'working');
  t.deepEqual(h.log.ran, ['j1', 'j2']);
  t.deepEqual(h.ctx().queue, ['j3', 'j4', 'j5']);
  t.deepEqual(['j1', 'j2', 'j3'].map(h.jobState), [{ running: 'working' }, { running: 'working' }, 'queued']);
  h.finish('j2');
  t.deepEqual(h.log.ran, ['j1', 'j2', 'j3']);
  t.is(h.kid('job:j2'), undefined, 'a finished job has no actor (it is in the store)');
  // A paused job gives its slot away; resumed, it queues behind the others.
  h.kid('job:j1')!.send({ type: 'PAUSE' });
  t.deepEqual(h.log.aborted, ['j1']);
  t.deepEqual(h.log.ran, ['j1', 'j2', 'j3'], 'the slot is not free until the run has ended');
  h.kid('job:j1')!.send({ type: 'PHASES_DONE' });
  t.is(h.jobState('j1'), 'paused');
  t.deepEqual(h.log.ran, ['j1', 'j2', 'j3', 'j4']);
  h.kid('job:j1')!.send({ type: 'RESUME' });
  t.deepEqual(h.ctx().queue, ['j5', 'j1']);
  for (const id of ['j3', 'j4', 'j5', 'j1']) h.finish(id);
  t.deepEqual(h.log.ran, ['j1', 'j2', 'j3', 'j4', 'j5', 'j1']);
  t.is(h.actor.getSnapshot().value, 'idle');
  t.true(h.log.released >= 2, 'the threads go when no job is left');
  t.deepEqual(
    h.log.saved.filter((s) => s.startsWith('j1:')),
    ['j1:queued', 'j1:running', 'j1:paused', 'j1:queued', 'j1:running', 'j1:completed'],
  );
});

test('a location this device adds in its log gets an index job and a watcher; other devices and events do not', (t) => {
  const h = harness();
  h.send({ type: 'START' });
  h.committed('location.added', { id: LOC, path: '/x', name: 'x', watch: true, rules: {} });
  t.deepEqual(h.log.ran, ['n1']);
  t.deepEqual(h.jobInput('n1'), { loc: LOC });
  t.true(h.ctx().watchers.has(LOC));
  t.truthy(h.kid(`watch:${LOC}`));
  // Another device's location, an event of ours naming another device's location, other events.
  h.committed('location.added', { id: THEIRS, path: '/y', name: 'y', watch: true, rules: {} }, OTHER);
  h.committed('location.added', { id: THEIRS, path: '/y', name: 'y', watch: true, rules: {} });
  h.committed('location.added', { id: `eeeeeeeeee.${SELF}`, path: '/z', name: 'z', watch: false }, OTHER);
  h.committed('tag.created', { id: LOC });
  h.committed('location.added', { id: 42 });
  t.deepEqual(h.log.ran, ['n1']);
  t.deepEqual([...h.ctx().watchers.keys()], [LOC]);
  // The watch switched off and on again.
  h.committed('location.updated', { id: LOC, watch: false });
  t.is(h.kid(`watch:${LOC}`), undefined);
  h.committed('location.updated', { id: LOC, name: 'renamed' });
  t.false(h.ctx().watchers.has(LOC), 'a rename does not touch the watch');
  h.committed('location.updated', { id: LOC, watch: true });
  t.truthy(h.kid(`watch:${LOC}`));
  // Removed: its jobs are cancelled (the running ones at their next batch) and its watch ends.
  h.enqueue('q1', LOC);
  h.enqueue('q2', LOC);
  t.deepEqual(h.log.ran, ['n1', 'q1'], 'q1 takes the second slot, q2 waits');
  h.committed('location.removed', { id: LOC });
  t.deepEqual(h.log.aborted, ['n1', 'q1']);
  t.is(h.jobState('q2'), undefined, 'a queued job is cancelled at once');
  t.deepEqual(h.jobState('n1'), { running: 'stopping' }, 'a running job waits for its run to stop');
  h.kid('job:n1')!.send({ type: 'PHASES_DONE' });
  h.kid('job:q1')!.send({ type: 'PHASES_DONE' });
  t.deepEqual(
    h.log.saved.filter((s) => s.endsWith('cancelled')),
    ['q2:cancelled', 'n1:cancelled', 'q1:cancelled'],
  );
  t.is(h.kid(`watch:${LOC}`), undefined);
  t.is(h.ctx().jobs.size, 0);
});

test('watcher changes wait while the location has a queued or running job, then make one rescan of them all', (t) => {
  const h = harness();
  h.send({ type: 'START' });
  h.committed('location.added', { id: LOC, path: '/x', name: 'x', watch: true, rules: {} });
  h.send({ type: 'CHANGED', lib: 'L', loc: LOC, scope: ['a'] });
  h.send({ type: 'CHANGED', lib: 'L', loc: LOC, scope: ['b', 'a'] });
  t.is(h.ctx().jobs.size, 1, 'no rescan while the index job runs');
  h.finish('n1');
  t.deepEqual(h.log.ran, ['n1', 'n2']);
  t.deepEqual(h.jobInput('n2'), { loc: LOC, scope: ['a', 'b'], watch: true });
  h.send({ type: 'CHANGED', lib: 'L', loc: LOC, scope: [''] });
  h.finish('n2');
  t.deepEqual(h.jobInput('n3'), { loc: LOC, scope: [''], watch: true });
  h.finish('n3');
  // A change from a watcher the manager no longer holds is dropped.
  h.send({ type: 'CHANGED', lib: 'L', loc: THEIRS, scope: ['a'] });
  t.is(h.ctx().jobs.size, 0);
  t.is(h.actor.getSnapshot().value, 'idle');
});

test('at start a library restores its jobs, reconciles its other locations with a rescan and watches them', (t) => {
  const h = harness();
  h.send({ type: 'START' });
  const LOC2 = `ffffffffff.${SELF}`;
  const LOC3 = `gggggggggg.${SELF}`;
  const stored = { lib: 'L', kind: 'index', message: null };
  h.send({
    type: 'LIBRARY_OPENED',
    lib: 'L',
    jobs: [
      { ...stored, id: 'crashed', loc: LOC, input: { loc: LOC }, state: 'running', pausedBy: null },
      { ...stored, id: 'mine', loc: LOC2, input: { loc: LOC2 }, state: 'paused', pausedBy: 'user' },
    ],
    locations: [
      { id: LOC, watch: true },
      { id: LOC2, watch: false },
      { id: LOC3, watch: true },
    ],
  });
  t.deepEqual(h.jobState('crashed'), { running: 'working' }, 'a job a crash left running runs again');
  t.is(h.jobState('mine'), 'paused', "the user's pause holds");
  t.deepEqual(h.jobInput('n1'), { loc: LOC3, reconcile: true }, 'only the location with no job is reconciled');
  t.deepEqual(h.log.ran, ['crashed', 'n1']);
  t.deepEqual([...h.ctx().watchers.keys()].sort(), [LOC, LOC3].sort());
  // Space back on the disk: only jobs a full disk paused would go on; the user's stays.
  h.send({ type: 'SPACE' });
  t.is(h.jobState('mine'), 'paused');
});

test('shutdown pauses running jobs; one that does not stop gets its grace, then its threads are closed', (t) => {
  const clock = new SimulatedClock();
  const h = harness(clock);
  h.send({ type: 'START' });
  for (const id of ['j1', 'j2', 'j3']) h.enqueue(id);
  h.committed('location.added', { id: LOC, path: '/x', name: 'x', watch: true, rules: {} });
  h.send({ type: 'SHUTDOWN' });
  t.deepEqual(h.actor.getSnapshot().value, { stopping: 'grace' });
  t.deepEqual(h.log.aborted, ['j1', 'j2']);
  t.is(h.kid(`watch:${LOC}`), undefined, 'watchers stop at once');
  h.enqueue('late');
  h.committed('location.added', { id: `hhhhhhhhhh.${SELF}`, path: '/y', name: 'y', watch: false, rules: {} });
  t.deepEqual(h.log.ran, ['j1', 'j2'], 'nothing new starts while stopping');
  t.is(h.jobState('late'), 'queued', 'a job queued meanwhile is saved as queued for the next start');
  h.kid('job:j1')!.send({ type: 'PHASES_DONE' });
  t.is(h.jobState('j1'), 'paused');
  t.is((h.kid('job:j1')!.getSnapshot().context as JobContext).pausedBy, 'shutdown');
  // j2 is stuck in the kernel: nothing happens until the grace is over.
  clock.increment(STOP_GRACE_MS - 1);
  t.is(h.log.closed, 0);
  clock.increment(1);
  t.deepEqual(h.actor.getSnapshot().value, { stopping: 'closingThreads' });
  t.is(h.log.closed, 1);
  clock.increment(THREADS_GRACE_MS);
  t.is(h.actor.getSnapshot().value, 'stopped');
  t.deepEqual([...h.ctx().running], ['j2'], 'the job that never stopped is reported');
  t.true(h.log.saved.includes('j3:queued') && !h.log.saved.includes('j3:running'));
});

test('shutdown with jobs that stop in time ends as soon as the last has stopped', (t) => {
  const clock = new SimulatedClock();
  const h = harness(clock);
  h.send({ type: 'START' });
  h.send({ type: 'SHUTDOWN' });
  t.is(h.actor.getSnapshot().value, 'stopped', 'nothing running: stopped at once');
  const g = harness(clock);
  g.send({ type: 'START' });
  g.enqueue('j1');
  g.send({ type: 'SHUTDOWN' });
  g.kid('job:j1')!.send({ type: 'PHASES_FAILED', error: new Error('the hash pool was closed') });
  t.is(g.actor.getSnapshot().value, 'stopped');
  t.is(g.log.closed, 0, 'no threads closed under anyone');
  t.true(g.log.saved.includes('j1:paused'));
});
