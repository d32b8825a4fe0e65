// The device identity: an Ed25519 key created on first start, kept in the data dir (0600).
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SdError } from './errors.js';
import { generateKeys, keysFromPem, type DeviceKeys } from './events/keys.js';
import { writePrivateFile } from './fsutil.js';

export interface DeviceIdentity extends DeviceKeys {
  name: string;
}

export function loadOrCreateIdentity(dataDir: string): DeviceIdentity {
  const keyPath = join(dataDir, 'device.key');
  const metaPath = join(dataDir, 'device.json');
  if (!existsSync(keyPath)) writePrivateFile(keyPath, generateKeys().privatePem);
  let keys: DeviceKeys;
  try {
    keys = keysFromPem(readFileSync(keyPath, 'utf8'));
  } catch (e) {
    throw new SdError('E_BAD_DEVICE_KEY', `the device key ${keyPath} cannot be read: ${(e as Error).message}`);
  }
  let name = hostname() || 'device';
  if (existsSync(metaPath)) {
    try {
      name = (JSON.parse(readFileSync(metaPath, 'utf8')) as { name?: string }).name ?? name;
    } catch {
      throw new SdError('E_CORRUPT_FILE', `${metaPath} is not valid JSON`);
    }
  } else {
    writePrivateFile(metaPath, JSON.stringify({ name }, null, 2));
  }
  return { ...keys, name };
}

export function saveDeviceName(dataDir: string, name: string): void {
  writePrivateFile(join(dataDir, 'device.json'), JSON.stringify({ name }, null, 2));
}
