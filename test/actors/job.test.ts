// The per-job machine of JobManager, tested as a model: every state and transition it can reach
// is walked on a real actor with its phases and its store stubbed at the actor boundary. Then what
// a user relies on: every state is saved as it is entered, a pause or cancel stops the run at its
// next batch before the job says so, a full disk pauses instead of failing, and a restart puts
// each stored job where it belongs (a crash re-queues, a shutdown resumes, a user's pause stays).
import test from 'ava';
import { createActor, fromCallback, type EventObject } from 'xstate';
import { jobMachine, type JobContext, type JobInput, type PhasesInput } from '../../src/actors/jobs/job.js';
import { declaredStates, edgesOf, walkEveryState } from '../support/model.js';

interface Log {
  saved: string[];
  told: string[];
  aborts: number;
  cleanups: number;
  resumes: number;
  diskFull: number;
  announced: number;
}

const newLog = (): Log => ({ saved: [], told: [], aborts: 0, cleanups: 0, resumes: 0, diskFull: 0, announced: 0 });

/** The machine with its effects stubbed: the test says when the phases end, and how. */
function stubbed(log: Log = newLog()) {
  return jobMachine.provide({
    actors: {
      phases: fromCallback<{ type: 'ABORT' }, PhasesInput>(({ receive }) => {
        receive(() => void log.aborts++);
        return () => void log.cleanups++;
      }),
    },
    actions: {
      persist: ({ context }, { state }) =>
        void log.saved.push(context.pausedBy ? `${state}(${context.pausedBy})` : state),
      tellManager: (_, { state }) => void log.told.push(state),
      countResume: () => void log.resumes++,
      diskFull: () => void log.diskFull++,
      announce: () => void log.announced++,
    },
  });
}

const input: JobInput = { id: 'j1', lib: 'lib', kind: 'index', loc: 'loc', input: { loc: 'loc' } };
const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });

const events = (): (EventObject & Record<string, unknown>)[] => [
  { type: 'START' },
  { type: 'PAUSE' },
  { type: 'RESUME' },
  { type: 'CANCEL' },
  { type: 'SHUTDOWN' },
  { type: 'SPACE' },
  { type: 'PROGRESS', phase: 'walk', done: 1000, total: null, rate: 5000 },
  { type: 'PHASES_DONE' },
  { type: 'PHASES_FAILED', error: new Error('EACCES: permission denied') },
  { type: 'PHASES_FAILED', error: full },
];

const key = (s: { value: unknown; context: JobContext }): string =>
  JSON.stringify([s.value, s.context.stopFor, s.context.pausedBy]);

test('every state of the job machine is reached, on a real actor, by its shortest path', (t) => {
  const machine = stubbed();
  const visited = walkEveryState(t, { machine, input, events: events as never, key: key as never });
  // `restoring` is transient: a job never rests there (its own test below).
  t.deepEqual(
    [...visited].sort(),
    declaredStates(machine)
      .filter((s) => s !== '"restoring"')
      .sort(),
  );
});

test('every transition the job machine declares is taken by some event the model tries', (t) => {
  const { edges } = edgesOf({ machine: stubbed(), input, events: events as never, key: key as never });
  const taken = new Set(edges.map((e) => `${JSON.stringify(JSON.parse(e.from)[0])} ${e.event.type}`));
  const expected = [
    ['"queued"', 'START'],
    ['"queued"', 'PAUSE'],
    ['"queued"', 'CANCEL'],
    ['{"running":"working"}', 'PAUSE'],
    ['{"running":"working"}', 'CANCEL'],
    ['{"running":"working"}', 'SHUTDOWN'],
    ['{"running":"working"}', 'PHASES_DONE'],
    ['{"running":"working"}', 'PHASES_FAILED'],
    ['{"running":"stopping"}', 'CANCEL'],
    ['{"running":"stopping"}', 'PHASES_DONE'],
    ['{"running":"stopping"}', 'PHASES_FAILED'],
    ['"paused"', 'RESUME'],
    ['"paused"', 'SPACE'],
    ['"paused"', 'CANCEL'],
    ['"failed"', 'RESUME'],
  ];
  for (const [state, type] of expected) t.true(taken.has(`${state} ${type}`), `${state} --${type}--> not taken`);
  // Nothing leaves a finished job, and START or RESUME leave a running job where it is.
  for (const e of edges) {
    const from = JSON.stringify(JSON.parse(e.from)[0]);
    if (['"completed"', '"cancelled"'].includes(from)) t.is(e.to, from, `${from} --${e.event.type}-->`);
    if (from.startsWith('{"running"') && ['RESUME', 'START'].includes(e.event.type))
      t.is(e.to, from, `${from} --${e.event.type}-->`);
  }
});

test('every state is saved as it is entered, and told to the manager', (t) => {
  const log = newLog();
  const a = createActor(stubbed(log), { input });
  a.start();
  for (const type of ['START', 'PAUSE', 'PHASES_DONE', 'RESUME', 'START', 'PHASES_DONE'] as const) a.send({ type });
  t.deepEqual(log.saved, ['queued', 'running', 'paused(user)', 'queued', 'running', 'completed']);
  t.deepEqual(log.told, ['queued', 'running', 'paused', 'queued', 'running', 'completed']);
  t.is(log.resumes, 1);
  t.is(a.getSnapshot().status, 'done');
});

test('pause and cancel stop the run at its next batch: the job says paused only once the run has ended', (t) => {
  const log = newLog();
  const a = createActor(stubbed(log), { input });
  a.start();
  a.send({ type: 'START' });
  a.send({ type: 'PROGRESS', phase: 'walk', done: 3000, total: null, rate: 1 });
  t.is(log.announced, 1);
  a.send({ type: 'PAUSE' });
  t.is(log.aborts, 1, 'the run was asked to stop');
  t.deepEqual(a.getSnapshot().value, { running: 'stopping' }, 'still running until the run ends');
  t.false(a.getSnapshot().can({ type: 'RESUME' }));
  a.send({ type: 'CANCEL' }); // a cancel while pausing wins
  a.send({ type: 'PHASES_DONE' });
  t.is(a.getSnapshot().value, 'cancelled');
  t.is(log.cleanups, 1, 'leaving running stopped the phases actor');
  t.deepEqual(log.saved, ['queued', 'running', 'cancelled']);

  // Stopping the job's actor itself (the daemon gave up on it) aborts its run too.
  const b = createActor(stubbed(log), { input });
  b.start();
  b.send({ type: 'START' });
  b.stop();
  t.is(log.cleanups, 2);
});

test('a full disk pauses the job instead of failing it; space coming back resumes only those', (t) => {
  const log = newLog();
  const a = createActor(stubbed(log), { input });
  a.start();
  a.send({ type: 'START' });
  a.send({ type: 'PHASES_FAILED', error: full });
  t.is(a.getSnapshot().value, 'paused');
  t.like(a.getSnapshot().context, { pausedBy: 'disk-full' });
  t.regex(a.getSnapshot().context.message!, /disk is full/);
  t.is(log.diskFull, 1);
  a.send({ type: 'SPACE' });
  t.is(a.getSnapshot().value, 'queued');
  t.is(a.getSnapshot().context.message, null);

  // A job the user paused stays paused when space comes back.
  a.send({ type: 'PAUSE' });
  a.send({ type: 'SPACE' });
  t.is(a.getSnapshot().value, 'paused');
  // A job stopped by shutdown whose threads were closed under it is paused, not failed.
  a.send({ type: 'RESUME' });
  a.send({ type: 'START' });
  a.send({ type: 'SHUTDOWN' });
  a.send({ type: 'PHASES_FAILED', error: new Error('the hash pool was closed before the batch finished') });
  t.is(a.getSnapshot().value, 'paused');
  t.is(a.getSnapshot().context.pausedBy, 'shutdown');
  // Any other failure fails it, with its message; a failed job can be tried again.
  a.send({ type: 'RESUME' });
  a.send({ type: 'START' });
  a.send({ type: 'PHASES_FAILED', error: new Error('EIO: i/o error') });
  t.is(a.getSnapshot().value, 'failed');
  t.is(a.getSnapshot().context.message, 'EIO: i/o error');
  a.send({ type: 'RESUME' });
  t.is(a.getSnapshot().value, 'queued');
});

test('a restored job goes where it belongs: a crash re-queues, a shutdown resumes, a pause stays, a failure waits', (t) => {
  const cases: [JobInput['stored'], string, number][] = [
    [undefined, 'queued', 0],
    [{ state: 'queued', pausedBy: null, message: null }, 'queued', 0],
    [{ state: 'running', pausedBy: null, message: null }, 'queued', 1],
    [{ state: 'paused', pausedBy: 'shutdown', message: null }, 'queued', 1],
    [{ state: 'paused', pausedBy: 'disk-full', message: 'the disk is full' }, 'queued', 1],
    [{ state: 'paused', pausedBy: 'user', message: null }, 'paused', 0],
    [{ state: 'paused', pausedBy: null, message: null }, 'paused', 0],
    [{ state: 'failed', pausedBy: null, message: 'EIO' }, 'failed', 0],
  ];
  for (const [stored, want, resumes] of cases) {
    const log = newLog();
    const a = createActor(stubbed(log), { input: { ...input, stored } });
    a.start();
    const what = JSON.stringify(stored);
    t.is(a.getSnapshot().value as unknown, want, what);
    t.is(log.resumes, resumes, `${what}: resumes counted`);
    t.deepEqual(log.saved.length, 1, `${what}: saved once`);
    if (want === 'queued') t.is(a.getSnapshot().context.pausedBy, null, what);
    a.stop();
  }
});
