// Opens a data dir the way the daemon does (without starting jobs, which would rescan the
// bench's synthetic location), answers one search and one ls, idles, and prints its RSS.
import { Core } from '../src/core.js';

const [dataDir, lsPath] = process.argv.slice(2);
const core = await Core.open(dataDir!, { services: false });
await core.query('search', { query: 'holiday', limit: 10 });
if (lsPath) await core.query('entry.ls', { path: lsPath });
global.gc?.();
await new Promise((r) => setTimeout(r, 2000));
process.stdout.write(`${JSON.stringify({ rssMB: Math.round(process.memoryUsage().rss / 1048576) })}\n`);
await core.close();
