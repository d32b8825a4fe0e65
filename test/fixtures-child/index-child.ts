// Child process for the crash test: opens a Core on DATA_DIR, adds TREE as a location and prints
// every job progress message as a JSON line. With SLOW_MS it blocks that long after each walk
// progress line (a slow disk), so the parent can SIGKILL it while the walk is half done.
// usage: node index-child.js DATA_DIR TREE [SLOW_MS]
import { Core } from '../../src/core.js';

const [dataDir, tree, slow] = process.argv.slice(2);
if (!dataDir || !tree) {
  console.error('usage: index-child.js DATA_DIR TREE [SLOW_MS]');
  process.exit(2);
}
const slowMs = Number(slow ?? 0);
const blocker = new Int32Array(new SharedArrayBuffer(4));

const core = await Core.open(dataDir);
core.bus.subscribe((m) => {
  if (m.kind !== 'job') return;
  // stdout to a pipe is synchronous on Linux: the line is out before we block or get killed.
  process.stdout.write(
    `${JSON.stringify({ job: m.job, state: m.state, phase: m.phase ?? null, done: m.done ?? 0 })}\n`,
  );
  if (slowMs > 0 && m.state === 'running' && m.phase === 'walk') Atomics.wait(blocker, 0, 0, slowMs);
});
const out = await core.command<{ job: string }>('location.add', { path: tree, watch: false });
const job = out.result!.job;
const deadline = Date.now() + 120_000;
for (;;) {
  const j = await core.query<{ state: string }>('job.info', { ref: job });
  if (['completed', 'failed', 'cancelled'].includes(j.state) || Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 50));
}
await core.close();
process.stdout.write(`${JSON.stringify({ exit: true })}\n`);
