// Process entry of the daemon: `node dist/src/daemon/entry.js --data-dir DIR [--p2p-port N]
// [--mdns on|off] [--webrtc auto|on|off] [--ice-servers URLS] [--share-ice on|off] [--device-name NAME] [--foreground]`.
import { parseArgs } from 'node:util';
import { describeStartupError, runDaemon } from './main.js';
import type { StartFlags } from './settings.js';

process.stderr.on('error', () => undefined); // the parent may have closed our stderr after start
let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      'p2p-port': { type: 'string' },
      mdns: { type: 'string' },
      webrtc: { type: 'string' },
      'device-name': { type: 'string' },
      'ice-servers': { type: 'string' },
      'share-ice': { type: 'string' },
      foreground: { type: 'boolean' },
    },
  }).values;
} catch (e) {
  process.stderr.write(`E_USAGE: ${(e as Error).message}\n`);
  process.exit(2);
}
const dataDir = values['data-dir'];
if (typeof dataDir !== 'string') {
  process.stderr.write('E_USAGE: --data-dir is required\n');
  process.exit(2);
}
const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
const flags: StartFlags = {
  'p2p.port': str('p2p-port'),
  mdns: str('mdns'),
  webrtc: str('webrtc'),
  'device.name': str('device-name'),
  'ice.servers': str('ice-servers'),
  'ice.share': str('share-ice'),
};
runDaemon({ dataDir, flags, foreground: values.foreground === true }).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${describeStartupError(e)}\n`);
    process.exit(1);
  },
);
