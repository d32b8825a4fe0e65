// A joiner waits for its own name on the roster while the inviter's history flows: the roster's
// word comes after the whole history, so a fixed wait called the join of a big library a failure
// (`sd pair join` printed "verify FAILED" with 1,000,000 entries still arriving).
import test from 'ava';
import { onRoster } from '../../src/sync/roster-wait.js';
import { openCore } from '../helpers.js';

const stranger = 'a'.repeat(52);

test('the wait goes on while events arrive, and ends when they stop', async (t) => {
  const core = await openCore(t);
  const lib = core.libraries.resolve();
  t.true(await onRoster(lib, core.device.id, 50, 1000), 'a device already on the roster needs no wait');
  const t0 = Date.now();
  const waiting = onRoster(lib, stranger, 2000, 30_000);
  // 30 events 100 ms apart: the flow outlasts the 2 s stall, and the wait outlasts the flow.
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await core.command('library.rename', { name: `busy-${i}` });
  }
  const flowed = Date.now() - t0;
  t.false(await waiting, 'a device never added is not on the roster');
  const waited = Date.now() - t0;
  t.true(
    flowed >= 3000 && waited >= flowed + 1800,
    `it waited while the history flowed (${flowed} ms), then one stall (${waited} ms)`,
  );
  t.true(waited < flowed + 6000, `and not to the cap (${waited} ms)`);
});

test('the cap ends a wait that events keep alive', async (t) => {
  const core = await openCore(t);
  const lib = core.libraries.resolve();
  const t0 = Date.now();
  const waiting = onRoster(lib, stranger, 300, 700);
  let stop = false;
  const busy = (async () => {
    for (let i = 0; !stop && i < 50; i++) {
      await core.command('library.rename', { name: `cap-${i}` });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  t.false(await waiting);
  stop = true;
  await busy;
  const waited = Date.now() - t0;
  t.true(waited >= 650 && waited < 2000, `the cap of 700 ms held (${waited} ms)`);
});
