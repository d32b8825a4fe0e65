// The flags `sd start` and `sd daemon install` share: each is a setting (see `sd config`) given
// for this start only, checked here so a bad value is a usage error before anything runs.
import type { Command } from 'commander';
import { parseSetting, type SettingKey, type StartFlags } from '../daemon/settings.js';

export interface StartOptions {
  p2pPort?: string;
  mdns?: boolean;
  webrtc?: boolean | string;
  deviceName?: string;
  iceServers?: string;
  shareIce?: boolean;
  transferLimit?: string;
}

export function addStartFlags(cmd: Command): Command {
  return cmd
    .option('--p2p-port <port>', 'port for peer links (0 picks a free one and keeps it across restarts; off)')
    .option('--mdns', 'find paired devices on the LAN by mDNS (the default)')
    .option('--no-mdns', 'no mDNS discovery (peers by address only)')
    .option(
      '--webrtc [mode]',
      'WebRTC links: auto (the default: devices reachable only through members), on (LAN links too), off',
    )
    .option('--no-webrtc', 'no WebRTC links at all (WebSocket only)')
    .option('--device-name <name>', 'the name other devices see')
    .option('--ice-servers <urls>', 'STUN/TURN servers: stun:host:3478,turn:user:pass@host:3478 (see `sd config`)')
    .option('--share-ice', 'hand the ICE servers (minted credentials, never the secret) to linked members')
    .option('--no-share-ice', 'keep the ICE servers to this device')
    .option('--transfer-limit <rate>', 'bytes a second file transfers may use (20M, 500K, off)');
}

/** The flags given, as settings; each value is checked (E_BAD_INPUT, exit 2). */
export function startFlags(o: StartOptions): StartFlags {
  const flags: StartFlags = {};
  const set = (key: SettingKey, raw: string | undefined, flag: string): void => {
    if (raw === undefined) return;
    parseSetting(key, raw, flag);
    flags[key] = raw;
  };
  set('p2p.port', o.p2pPort, '--p2p-port');
  set('mdns', o.mdns === undefined ? undefined : o.mdns ? 'on' : 'off', '--mdns');
  set(
    'webrtc',
    o.webrtc === undefined ? undefined : typeof o.webrtc === 'string' ? o.webrtc : o.webrtc ? 'on' : 'off',
    '--webrtc',
  );
  set('device.name', o.deviceName, '--device-name');
  set('ice.servers', o.iceServers, '--ice-servers');
  set('ice.share', o.shareIce === undefined ? undefined : o.shareIce ? 'on' : 'off', '--share-ice');
  set('transfer.limit', o.transferLimit, '--transfer-limit');
  return flags;
}

/** The daemon entry's arguments for these flags. */
export function entryArgs(flags: StartFlags): string[] {
  const out: string[] = [];
  const names: Record<SettingKey, string | undefined> = {
    'p2p.port': '--p2p-port',
    mdns: '--mdns',
    webrtc: '--webrtc',
    'device.name': '--device-name',
    'ice.servers': '--ice-servers',
    'ice.turn-secret': undefined,
    'ice.share': '--share-ice',
    'transfer.limit': '--transfer-limit',
  };
  for (const [k, v] of Object.entries(flags) as [SettingKey, string | undefined][])
    if (v !== undefined && names[k]) out.push(names[k], v);
  return out;
}
