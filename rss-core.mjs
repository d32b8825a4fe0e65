import { Core } from './dist/src/core.js';
import { mkdtempSync } from 'node:fs';
const d = mkdtempSync('/tmp/rsscore-');
console.log('after import', (process.memoryUsage().rss / 1048576).toFixed(1), process.memoryUsage());
const c = await Core.open(d);
await new Promise(r => setTimeout(r, 1000));
console.log('after open', (process.memoryUsage().rss / 1048576).toFixed(1), process.memoryUsage());
await c.close();
