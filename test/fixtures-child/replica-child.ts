// Child process for the replication crash test: a device that joins a library with CODE and
// replicates its history, printing how many events it holds every 10 ms (one JSON line each),
// so the parent can SIGKILL it mid-replication.
// usage: node replica-child.js DATA_DIR CODE
import { Core } from '../../src/core.js';

const [dataDir, code] = process.argv.slice(2);
if (!dataDir || !code) {
  console.error('usage: replica-child.js DATA_DIR CODE');
  process.exit(2);
}
process.env.SD_P2P_HOST = '127.0.0.1';
const core = await Core.open(dataDir, { services: false });
await core.startPeers('127.0.0.1', 0);
// Not the command, which waits for the roster (the end of the inviter's feed): the parent kills us mid-way.
const out = await core.peers!.join(code);
const lib = core.libraries.resolve(out.library);
const count = lib.db.prepare('SELECT COUNT(*) AS n FROM events');
// stdout to a pipe is synchronous on Linux: each line is out before the next step.
setInterval(() => process.stdout.write(`${JSON.stringify({ events: (count.get() as { n: number }).n })}\n`), 10);
