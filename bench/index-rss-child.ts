// The daemon's memory after an index: opens a fresh data dir as the daemon does (services on),
// indexes ROOT, waits for the job to end and the daemon to go idle (the hash pool is released),
// and prints its RSS. Run by bench/index.ts in its own process so the bench's runs do not count.
import { Core } from '../src/core.js';

const [dataDir, root] = process.argv.slice(2);
const core = await Core.open(dataDir!);
const added = await core.command<{ job: string }>('location.add', { path: root!, watch: false });
const deadline = Date.now() + 600_000;
// Bounded: ten minutes at most.
for (;;) {
  const j = await core.query<{ state: string }>('job.info', { ref: added.result!.job });
  if (['completed', 'failed', 'cancelled'].includes(j.state)) break;
  if (Date.now() > deadline) throw new Error('the index job did not finish in 10 minutes');
  await new Promise((r) => setTimeout(r, 50));
}
const atEnd = process.memoryUsage().rss;
await new Promise((r) => setTimeout(r, 2000));
global.gc?.();
await new Promise((r) => setTimeout(r, 500));
process.stdout.write(
  `${JSON.stringify({ atEndMB: Math.round(atEnd / 1048576), idleMB: Math.round(process.memoryUsage().rss / 1048576) })}\n`,
);
await core.close();
