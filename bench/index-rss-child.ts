// The daemon's memory after an index: opens a fresh data dir as the daemon does (services on,
// the daemon's memory releaser), indexes ROOT, waits for the job to end and the daemon to go idle
// (the hash pool is released, the releaser has run: IDLE_MS, default 12 s), and prints its RSS.
// Run by bench/index.ts in its own process so the bench's runs do not count.
import { Core } from '../src/core.js';
import { startLibraryReleaser } from '../src/daemon/memory.js';

const [dataDir, root] = process.argv.slice(2);
const IDLE_MS = Number(process.env.IDLE_MS ?? 12_000);
const core = await Core.open(dataDir!);
const releaser = startLibraryReleaser(() => core.libraries.list());
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
const cpu = process.cpuUsage();
global.gc?.();
await new Promise((r) => setTimeout(r, IDLE_MS));
process.stdout.write(
  `${JSON.stringify({
    atEndMB: Math.round(atEnd / 1048576),
    idleMB: Math.round(process.memoryUsage().rss / 1048576),
    cpuS: (cpu.user + cpu.system) / 1e6,
  })}\n`,
);
releaser.stop();
await core.close();
