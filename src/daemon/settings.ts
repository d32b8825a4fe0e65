// The node's persistent settings (`sd config`): `<data>/settings.json` (0600), read by the
// daemon at start. Each value comes from the first of: a start flag, the environment, the file,
// the default; `sd status` says which. Beside it, `p2p.json` remembers the port the daemon got,
// so `--p2p-port 0` keeps its port across restarts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';
import { writePrivateFile } from '../fsutil.js';
import { parseRate } from '../transfer/limit.js';

export type SettingKey =
  'p2p.port' | 'mdns' | 'webrtc' | 'device.name' | 'ice.servers' | 'ice.turn-secret' | 'ice.share' | 'transfer.limit';
export type SettingValue = string | number;
export type Source = 'flag' | 'environment' | 'config' | 'default';
export interface Resolved {
  value: SettingValue;
  source: Source;
}
export type Settings = Record<SettingKey, Resolved>;
/** Values given on the command line of `sd start` (or in a service unit). */
export type StartFlags = Partial<Record<SettingKey, string>>;

// Plain checks, not zod: the CLI loads this module on every start, and zod costs ~10 ms there.
type Check = (raw: string) => SettingValue | undefined;
const onOff: Check = (raw) => {
  const v = raw.trim().toLowerCase();
  return v === 'on' || v === 'off' ? v : undefined;
};
const port: Check = (raw) => {
  const v = raw.trim();
  if (v === 'off') return v;
  return /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? Number(v) : undefined;
};
const webrtcMode: Check = (raw) => {
  const v = raw.trim().toLowerCase();
  return v === 'on' || v === 'off' || v === 'auto' ? v : undefined;
};
// The URL syntax is checked where it is parsed (sync/ice.ts); here, only its shape, to keep the CLI's start cheap.
const iceServers: Check = (raw) => {
  const v = raw.trim();
  if (v === '' || v === 'none') return 'none';
  const parts = v.split(',').map((x) => x.trim());
  const url =
    /^(stun|turns?):(?:[^:@\s,]+:[^@\s,]+@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::\d{1,5})?(?:\?transport=(udp|tcp))?$/;
  const portOk = (x: string): boolean => Number(/:(\d{1,5})(?:\?|$)/.exec(x)?.[1] ?? 3478) <= 65535;
  return parts.length <= 8 && parts.every((x) => url.test(x) && portOk(x) && !/^stun:.*[@?]/.test(x))
    ? parts.join(',')
    : undefined;
};
const secret: Check = (raw) => {
  const v = raw.trim();
  return v === '' || v === 'none' ? 'none' : /^[\x21-\x7e]{8,256}$/.test(v) ? v : undefined;
};
const deviceName: Check = (raw) => {
  const v = raw.trim();
  return v.length >= 1 && v.length <= 64 && !/[\u0000-\u001f\u007f-\u009f]/.test(v) ? v : undefined;
};

const rate: Check = (raw) => {
  const v = raw.trim();
  return parseRate(v) === undefined ? undefined : v === '0' ? 'off' : v;
};

interface Def {
  check: Check;
  env: string;
  /** Undefined: no start flag (a secret on a command line would show in `ps`). */
  flag?: string;
  help: string;
  /** Shown as *** by `sd config list` and `sd status`. */
  secret?: true;
  /** Undefined: the default is not a constant (the device name is the one it already has). */
  fallback?: SettingValue;
}

export const SETTINGS: Record<SettingKey, Def> = {
  'p2p.port': {
    check: port,
    env: 'SD_P2P_PORT',
    flag: '--p2p-port',
    help: 'port for peer links: a number, 0 for any free one (kept across restarts), or off',
    fallback: 'off',
  },
  mdns: {
    check: onOff,
    env: 'SD_MDNS',
    flag: '--mdns',
    help: 'find paired devices on the LAN by mDNS',
    fallback: 'on',
  },
  webrtc: {
    check: webrtcMode,
    env: 'SD_WEBRTC',
    flag: '--webrtc',
    help: 'WebRTC links: auto (to devices reachable only through other members), on (also move LAN links onto it), off',
    fallback: 'auto',
  },
  'device.name': {
    check: deviceName,
    env: 'SD_DEVICE_NAME',
    flag: '--device-name',
    help: 'the name other devices see (default: the host name at first start)',
  },
  'ice.servers': {
    check: iceServers,
    env: 'SD_ICE_SERVERS',
    flag: '--ice-servers',
    help: 'STUN and TURN servers for links across NATs: stun:host:3478,turn:user:pass@host:3478 (turns: for TLS), or none',
    fallback: 'none',
  },
  'ice.turn-secret': {
    check: secret,
    env: 'SD_ICE_TURN_SECRET',
    help: "coturn's static-auth-secret: time-limited credentials for turn: URLs given without any (or none)",
    fallback: 'none',
    secret: true,
  },
  'ice.share': {
    check: onOff,
    env: 'SD_ICE_SHARE',
    flag: '--share-ice',
    help: 'hand these ICE servers (with minted credentials, never the secret) to the members this node links with',
    fallback: 'off',
  },
  'transfer.limit': {
    check: rate,
    env: 'SD_TRANSFER_LIMIT',
    flag: '--transfer-limit',
    help: 'bytes a second file transfers may use, each direction (20M = 20 MiB/s; K, M, G; off)',
    fallback: 'off',
  },
};

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export const settingsPath = (dataDir: string): string => join(dataDir, 'settings.json');

export function isSettingKey(k: string): k is SettingKey {
  return k in SETTINGS;
}

export function settingKey(k: string): SettingKey {
  if (isSettingKey(k)) return k;
  throw new SdError('E_BAD_INPUT', `no setting "${k}"; the settings are ${SETTING_KEYS.join(', ')}`);
}

/** A value as typed (flag, environment or `sd config set`), checked against its setting. */
export function parseSetting(key: SettingKey, raw: string, where: string): SettingValue {
  const v = SETTINGS[key].check(raw);
  if (v === undefined)
    throw new SdError('E_BAD_INPUT', `${where}: "${raw}" is not a valid ${key} (${SETTINGS[key].help})`, { key });
  return v;
}

export function readSettingsFile(dataDir: string): Partial<Record<SettingKey, SettingValue>> {
  const path = settingsPath(dataDir);
  if (!existsSync(path)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new SdError('E_CORRUPT_FILE', `${path} is not valid JSON; fix it or remove it`, { path });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new SdError('E_CORRUPT_FILE', `${path} is not a JSON object; fix it or remove it`, { path });
  const out: Partial<Record<SettingKey, SettingValue>> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!isSettingKey(k)) throw new SdError('E_CORRUPT_FILE', `${path}: unknown setting "${k}"`, { path });
    out[k] = parseSetting(k, String(v), path);
  }
  return out;
}

/** A value as `sd config list` and `sd status` show it (secrets and TURN passwords hidden). */
export function shownValue(key: SettingKey, v: SettingValue): SettingValue {
  if (SETTINGS[key].secret) return v === 'none' ? v : '***';
  if (key === 'ice.servers') return String(v).replace(/:([^:@,]+)@/g, ':***@');
  return v;
}

export function writeSettingsFile(dataDir: string, values: Partial<Record<SettingKey, SettingValue>>): void {
  const sorted = Object.fromEntries(SETTING_KEYS.filter((k) => values[k] !== undefined).map((k) => [k, values[k]]));
  writePrivateFile(settingsPath(dataDir), `${JSON.stringify(sorted, null, 2)}\n`);
}

/** Flag, then environment, then the file, then the default (`deviceName` is the current name). */
export function resolveSettings(
  dataDir: string,
  flags: StartFlags,
  env: NodeJS.ProcessEnv,
  deviceName: string,
): Settings {
  const file = readSettingsFile(dataDir);
  const out = {} as Settings;
  for (const key of SETTING_KEYS) {
    const def = SETTINGS[key];
    const flag = flags[key];
    const fromEnv = env[def.env];
    if (flag !== undefined) out[key] = { value: parseSetting(key, flag, def.flag ?? key), source: 'flag' };
    else if (fromEnv !== undefined && fromEnv !== '')
      out[key] = { value: parseSetting(key, fromEnv, def.env), source: 'environment' };
    else if (file[key] !== undefined) out[key] = { value: file[key]!, source: 'config' };
    else out[key] = { value: def.fallback ?? deviceName, source: 'default' };
  }
  return out;
}

/** The port the daemon listened on last time (for `--p2p-port 0`). */
export function rememberedPort(dataDir: string): number | undefined {
  try {
    const port = (JSON.parse(readFileSync(join(dataDir, 'p2p.json'), 'utf8')) as { port?: unknown }).port;
    return typeof port === 'number' && Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
  } catch {
    return undefined;
  }
}

export function rememberPort(dataDir: string, port: number): void {
  writePrivateFile(join(dataDir, 'p2p.json'), `${JSON.stringify({ port })}\n`);
}
