// Child process for the shared-metadata crash test: creates tags in a loop (each an Automerge
// change to the tags document, saved by automerge-repo, and a signed event), printing how many
// commands committed, so the parent can SIGKILL it in the middle of one.
// usage: node tagger-child.js DATA_DIR
import { Core } from '../../src/core.js';

const [dataDir] = process.argv.slice(2);
if (!dataDir) {
  console.error('usage: tagger-child.js DATA_DIR');
  process.exit(2);
}
const core = await Core.open(dataDir, { services: false });
// Bounded: the parent kills it long before the end.
for (let i = 0; i < 100_000; i++) {
  await core.command('tag.create', { name: `tag-${i}`, color: '#00aa00' });
  process.stdout.write(`${JSON.stringify({ done: i + 1 })}\n`);
}
await core.close();
