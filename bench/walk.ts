// Walk bench: our walker vs find(1) printing the same metadata, on a warm cache.
// Usage: node dist/bench/walk.js [TREE_DIR]
import { walk, walkSync } from '../src/jobs/walk.js';
import { benchTree, printTable, timeIt, timeShell } from './lib.js';

const root = benchTree(process.argv[2]);
const rules = { skipHidden: false, skipNames: [] }; // find lists everything, so do we

const sync = await timeIt(() => {
  let n = 0;
  for (const b of walkSync(root, rules)) n += b.entries.length;
  return n;
});
const async = await timeIt(async () => {
  let n = 0;
  for await (const b of walk(root, rules)) n += b.entries.length;
  return n;
});
const entries = sync.result + 1; // find also prints the root itself
const findMs = timeShell(`find '${root}' -printf '%i %s %T@ %p\\n' > /dev/null`);
const perSec = (ms: number): number => (entries / ms) * 1000;

console.log(
  `entries: ${entries} (async walk saw ${async.result + 1}); wall ms: walkSync ${sync.ms.toFixed(0)}, walk ${async.ms.toFixed(0)}, find ${findMs.toFixed(0)}`,
);
printTable('walk: entries/s (warm cache, best of 3)', [
  {
    what: 'walkSync vs find -printf',
    unit: 'entries/s',
    ours: perSec(sync.ms),
    peer: perSec(findMs),
    target: 'far above 50,000/s',
  },
  { what: 'walk (async batches) vs find', unit: 'entries/s', ours: perSec(async.ms), peer: perSec(findMs) },
]);
