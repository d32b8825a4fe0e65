import test from 'ava';
import { compareHlc, HlcClock, MAX_CLOCK_SKEW_MS, type Hlc } from '../../src/events/hlc.js';

test('HLC is strictly monotonic when the wall clock stands still or goes back', (t) => {
  let wall = 1000;
  const clock = new HlcClock({ ms: 0, c: 0 }, () => wall);
  const seen: Hlc[] = [];
  for (let i = 0; i < 100; i++) {
    if (i === 50) wall = 500; // the wall clock jumps backwards
    seen.push(clock.now());
  }
  for (let i = 1; i < seen.length; i++) t.true(compareHlc(seen[i]!, seen[i - 1]!) > 0, `step ${i}`);
});

test('after a future-dated remote clock, local time never goes backwards', (t) => {
  const wall = 1000;
  const clock = new HlcClock({ ms: 0, c: 0 }, () => wall);
  const before = clock.now();
  const remote = { ms: 1000 + 60_000, c: 7 };
  const merged = clock.receive(remote);
  t.true(compareHlc(merged, remote) > 0);
  t.true(compareHlc(merged, before) > 0);
  let prev = merged;
  for (let i = 0; i < 20; i++) {
    const next = clock.now();
    t.true(compareHlc(next, prev) > 0);
    t.true(next.ms >= remote.ms);
    prev = next;
  }
});

test('receiving an old remote clock does not move local time back', (t) => {
  let wall = 5000;
  const clock = new HlcClock({ ms: 0, c: 0 }, () => wall);
  const a = clock.now();
  const b = clock.receive({ ms: 10, c: 99 });
  t.true(compareHlc(b, a) > 0);
  wall = 6000;
  t.deepEqual(clock.now(), { ms: 6000, c: 0 });
});

test('a remote clock further ahead than the allowed skew does not move ours', (t) => {
  let wall = 1_000_000;
  const clock = new HlcClock({ ms: 0, c: 0 }, () => wall);
  const before = clock.now();
  // Year 275760, and a clock an hour ahead: both stay out of our clock.
  for (const ms of [8.64e15, wall + MAX_CLOCK_SKEW_MS + 3_600_000]) {
    clock.receive({ ms, c: 0 });
    t.true(clock.peek().ms <= wall, `receive(${ms}) moved the clock to ${clock.peek().ms}`);
  }
  wall += 10;
  const after = clock.now();
  t.is(after.ms, wall);
  t.true(compareHlc(after, before) > 0);
});
