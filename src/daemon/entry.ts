// Process entry of the daemon: `node dist/src/daemon/entry.js --data-dir DIR`.
import { describeStartupError, runDaemon } from './main.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

process.stderr.on('error', () => undefined); // the parent may have closed our stderr after start
const dataDir = arg('--data-dir');
if (!dataDir) {
  process.stderr.write('E_BAD_INPUT: --data-dir is required\n');
  process.exit(2);
}
const port = arg('--p2p-port');
runDaemon({ dataDir, p2pPort: port === undefined ? undefined : Number(port) }).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${describeStartupError(e)}\n`);
    process.exit(1);
  },
);
