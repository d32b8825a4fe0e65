// The device's current name as the data dir records it (device.json), read without a daemon.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function loadDeviceName(dataDir: string): string | undefined {
  try {
    const name = (JSON.parse(readFileSync(join(dataDir, 'device.json'), 'utf8')) as { name?: unknown }).name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}
