// The long fuzz runs: `node dist/fuzz/run.js [runs]` (default 100,000 each), printing counts,
// time and memory, and "0 crashes" when nothing escaped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core.js';
import { fuzzFeed, fuzzHandshake, fuzzHashLanes, fuzzRpcDecoder } from './targets.js';

const runs = Number(process.argv[2] ?? process.env.FUZZ_RUNS ?? 100_000);
const mb = (): number => Math.round(process.memoryUsage().rss / 1048576);
let t0 = performance.now();
const rss0 = mb();
const rpc = fuzzRpcDecoder(runs);
console.log(
  `rpc decoder: ${rpc.runs} inputs, ${rpc.refused} refused, ${rpc.valid} valid requests, ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${rss0} -> ${mb()} MB, 0 crashes`,
);
t0 = performance.now();
const hs = await fuzzHandshake(runs);
console.log(
  `peer handshake: ${hs.runs} inputs, refused ${JSON.stringify(hs.refused)}, ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${mb()} MB, 0 crashes, no link made`,
);
t0 = performance.now();
// Each run is a batch of up to 40 inputs: a tenth of the runs covers as many inputs as the others.
const lanes = await fuzzHashLanes(Math.max(1, Math.round(runs / 10)));
console.log(
  lanes.skipped
    ? `C hashing: skipped (${lanes.skipped})`
    : `C hashing against JavaScript: ${lanes.runs} batches, ${lanes.inputs} inputs, ${(lanes.bytes / 1048576).toFixed(0)} MiB, ${((performance.now() - t0) / 1000).toFixed(1)} s, 0 differences`,
);
const dir = mkdtempSync(join(tmpdir(), 'sd-fuzz-'));
try {
  const core = await Core.open(dir, { services: false });
  t0 = performance.now();
  const feed = await fuzzFeed(core.libraries.resolve(), runs);
  console.log(
    `feed protocol: ${feed.runs} inputs, refused ${JSON.stringify(feed.rejected)}, ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${mb()} MB, 0 crashes, nothing stored`,
  );
  await core.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
