// The watcher machine (one per watched location), tested as a model on XState's simulated clock:
// every state and transition is walked on a real actor with the operating system's watch stubbed;
// then what a user relies on: a burst of changes is one rescan once the folder is quiet, changes
// that never stop are still reported every MAX_WAIT_MS, the folders add up (the whole location
// past MAX_SCOPES), and a watch that breaks is reported once and ends.
import test from 'ava';
import { createActor, fromCallback, SimulatedClock, type EventObject } from 'xstate';
import {
  MAX_SCOPES,
  MAX_WAIT_MS,
  QUIET_MS,
  watcherMachine,
  type WatcherContext,
} from '../../src/actors/jobs/watcher.js';
import { declaredStates, edgesOf, walkEveryState } from '../support/model.js';

interface Log {
  reports: string[][];
  warned: string[];
  ended: number;
  watching: number;
  unwatched: number;
}

function stubbed(log: Log) {
  return watcherMachine.provide({
    actors: {
      fsEvents: fromCallback(() => {
        log.watching++;
        return () => void log.unwatched++;
      }),
    },
    actions: {
      report: (_, { scope }) => void log.reports.push([...scope].sort()),
      warn: (_, { message }) => void log.warned.push(message),
      ended: () => void log.ended++,
    },
  });
}

const newLog = (): Log => ({ reports: [], warned: [], ended: 0, watching: 0, unwatched: 0 });
const input = { lib: 'L', loc: 'loc' };

const events = (): (EventObject & Record<string, unknown>)[] => [
  { type: 'FS_CHANGE', dir: 'a' },
  { type: 'WATCH_FAILED', message: 'ENOSPC: System limit for number of file watchers reached' },
  { type: 'xstate.after.quiet.watcher.watching.gathering.settling' },
  { type: 'xstate.after.maxWait.watcher.watching.gathering' },
];
const delayOf = (e: EventObject): number => (e.type.includes('.quiet.') ? QUIET_MS : MAX_WAIT_MS);
const key = (s: { value: unknown; context: WatcherContext }): string => JSON.stringify([s.value, s.context.dirs.size]);

test('every state of the watcher machine is reached on a real actor, delays on the simulated clock', (t) => {
  const machine = stubbed(newLog());
  const visited = walkEveryState(t, { machine, input, events: events as never, key: key as never, delayOf });
  t.deepEqual([...visited].sort(), declaredStates(machine).sort());
});

test('every transition the watcher machine declares is taken', (t) => {
  const { edges } = edgesOf({ machine: stubbed(newLog()), input, events: events as never, key: key as never });
  const taken = new Set(edges.map((e) => `${JSON.stringify(JSON.parse(e.from)[0])} ${e.event.type} ${e.to}`));
  const quiet = '{"watching":"quiet"}';
  const settling = '{"watching":{"gathering":"settling"}}';
  for (const edge of [
    `${quiet} FS_CHANGE ${settling}`,
    `${settling} FS_CHANGE ${settling}`,
    `${settling} xstate.after.quiet.watcher.watching.gathering.settling ${quiet}`,
    `${settling} xstate.after.maxWait.watcher.watching.gathering ${quiet}`,
    `${quiet} WATCH_FAILED "failed"`,
    `${settling} WATCH_FAILED "failed"`,
  ])
    t.true(taken.has(edge), `${edge} not taken`);
  t.false(
    edges.some((e) => JSON.parse(e.from)[0] === 'failed' && e.to !== '"failed"'),
    'nothing leaves a failed watch',
  );
});

function running() {
  const log = newLog();
  const clock = new SimulatedClock();
  const actor = createActor(stubbed(log), { input, clock });
  actor.start();
  const change = (dir: string): void => actor.send({ type: 'FS_CHANGE', dir });
  return { log, clock, actor, change };
}

test('a burst of changes is one report once the location is quiet for QUIET_MS, with every folder once', (t) => {
  const w = running();
  t.teardown(() => w.actor.stop());
  for (let i = 0; i < 10_000; i++) w.change(i % 2 ? 'a' : 'b/c');
  w.clock.increment(QUIET_MS - 1);
  t.deepEqual(w.log.reports, [], 'nothing before the quiet period is over');
  w.clock.increment(1);
  t.deepEqual(w.log.reports, [['a', 'b/c']]);
  w.clock.increment(10 * MAX_WAIT_MS);
  t.is(w.log.reports.length, 1, 'no report without changes');
  w.change('d');
  w.clock.increment(QUIET_MS);
  t.deepEqual(w.log.reports[1], ['d'], 'the next report has only what changed since');
});

test('changes that never pause are still reported every MAX_WAIT_MS', (t) => {
  const w = running();
  t.teardown(() => w.actor.stop());
  const step = Math.floor(QUIET_MS / 2);
  // The first report comes MAX_WAIT_MS after the first change, although changes never paused.
  for (let ms = 0; ms < MAX_WAIT_MS; ms += step) {
    w.change(`dir${ms}`);
    t.is(w.log.reports.length, 0, `no report at ${ms} ms`);
    w.clock.increment(step);
  }
  t.is(w.log.reports.length, 1, `a report at ${MAX_WAIT_MS} ms`);
  // Then one per gathering (MAX_WAIT_MS from the next change): at least 3 more in 4 x MAX_WAIT_MS.
  for (let ms = MAX_WAIT_MS; ms < 5 * MAX_WAIT_MS; ms += step) {
    w.change(`dir${ms}`);
    w.clock.increment(step);
  }
  t.true(w.log.reports.length >= 4 && w.log.reports.length <= 5, `${w.log.reports.length} reports`);
  // Once the changes stop, the rest is reported: every changed folder is in exactly one report.
  w.clock.increment(QUIET_MS);
  const all = w.log.reports.flat();
  t.is(new Set(all).size, all.length);
  t.is(all.length, Math.ceil((5 * MAX_WAIT_MS) / step));
});

test('past MAX_SCOPES folders the report is the whole location; a change at the root is too', (t) => {
  const w = running();
  t.teardown(() => w.actor.stop());
  for (let i = 0; i <= MAX_SCOPES; i++) w.change(`d${i}`);
  w.clock.increment(QUIET_MS);
  t.deepEqual(w.log.reports, [['']]);
  w.change('x');
  w.change('');
  w.change('y');
  w.clock.increment(QUIET_MS);
  t.deepEqual(w.log.reports[1], ['']);
});

test('a held path (a transfer writing) is not reported; its hold ends QUIET_MS after the release', (t) => {
  const w = running();
  t.teardown(() => w.actor.stop());
  w.actor.send({ type: 'HOLD', path: 'album' });
  w.actor.send({ type: 'HOLD', path: 'album' }); // a second transfer to the same place
  w.actor.send({ type: 'FS_CHANGE', dir: '', path: 'album' }); // the rename that places it
  w.actor.send({ type: 'FS_CHANGE', dir: 'album/d0', path: 'album/d0/p1.jpg' });
  w.actor.send({ type: 'FS_CHANGE', dir: '', path: 'albums' }); // a sibling whose name starts alike
  w.clock.increment(QUIET_MS);
  t.deepEqual(w.log.reports, [['']], 'only the sibling');
  w.actor.send({ type: 'RELEASE', path: 'album' });
  w.clock.increment(QUIET_MS);
  w.change('album');
  w.clock.increment(QUIET_MS);
  t.is(w.log.reports.length, 1, 'still held by the other transfer');
  w.actor.send({ type: 'RELEASE', path: 'album' });
  w.actor.send({ type: 'FS_CHANGE', dir: '', path: 'album' }); // late news of its last write
  w.clock.increment(QUIET_MS - 1);
  t.is(w.log.reports.length, 1, 'a change on its way when the hold was released');
  w.clock.increment(1);
  w.actor.send({ type: 'FS_CHANGE', dir: 'album/d0', path: 'album/d0/p2.jpg' });
  w.clock.increment(QUIET_MS);
  t.deepEqual(w.log.reports[1], ['album/d0'], "a user's own change after the hold is reported");
  t.deepEqual([...w.actor.getSnapshot().context.held], []);
});

test('a broken watch is reported once and ends the watcher; its operating system watch is closed', (t) => {
  const w = running();
  t.teardown(() => w.actor.stop());
  t.is(w.log.watching, 1);
  w.change('a');
  w.actor.send({ type: 'WATCH_FAILED', message: 'ENOSPC' });
  t.is(w.actor.getSnapshot().status, 'done');
  t.deepEqual(w.log.warned, ['ENOSPC']);
  t.is(w.log.ended, 1);
  t.is(w.log.unwatched, 1);
  w.clock.increment(10 * MAX_WAIT_MS);
  t.deepEqual(w.log.reports, [], 'changes gathered before the failure are not reported by a dead watcher');
});
