// sd daemon install / uninstall: a systemd user unit on Linux, a launchd agent on macOS.
// The file is always written; it is loaded only when the service manager is there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SdError } from '../errors.js';
import type { CliContext } from './context.js';

const ENTRY = fileURLToPath(new URL('../daemon/entry.js', import.meta.url));
const LABEL = 'dev.vdfs.daemon';

function unitPath(): { kind: 'systemd' | 'launchd'; path: string } {
  if (process.platform === 'darwin')
    return { kind: 'launchd', path: join(homedir(), 'Library', 'LaunchAgents', `${LABEL}.plist`) };
  if (process.platform === 'linux') {
    const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
    return { kind: 'systemd', path: join(base, 'systemd', 'user', 'vdfs.service') };
  }
  throw new SdError(
    'E_UNSUPPORTED_PLATFORM',
    `no service manager support on ${process.platform}; run \`sd start\` instead`,
  );
}

function systemdUnit(dataDir: string): string {
  return `[Unit]
Description=vdfs daemon (${dataDir})
After=network-online.target

[Service]
Type=simple
ExecStart=${process.execPath} ${ENTRY} --data-dir ${dataDir}
Restart=on-failure
Environment=SD_DATA_DIR=${dataDir}

[Install]
WantedBy=default.target
`;
}

function launchdPlist(dataDir: string): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>${LABEL}</string>
  <key>ProgramArguments</key><array><string>${esc(process.execPath)}</string><string>${esc(ENTRY)}</string><string>--data-dir</string><string>${esc(dataDir)}</string></array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
</dict></plist>
`;
}

function manager(kind: 'systemd' | 'launchd'): string | undefined {
  const bin = kind === 'systemd' ? 'systemctl' : 'launchctl';
  const probe =
    kind === 'systemd'
      ? spawnSync(bin, ['--user', 'show-environment'], { stdio: 'ignore' })
      : spawnSync(bin, ['version'], { stdio: 'ignore' });
  return probe.status === 0 ? bin : undefined;
}

export function install(ctx: CliContext): void {
  const { kind, path } = unitPath();
  const text = kind === 'systemd' ? systemdUnit(ctx.dataDir) : launchdPlist(ctx.dataDir);
  if (ctx.flags.dryRun) {
    ctx.print(
      { wouldWrite: path, kind, content: text },
      () => `would write ${path}:\n${text}(dry run: nothing was written)`,
    );
    return;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  const bin = manager(kind);
  let loaded = false;
  if (bin === 'systemctl')
    loaded =
      spawnSync(bin, ['--user', 'daemon-reload'], { stdio: 'ignore' }).status === 0 &&
      spawnSync(bin, ['--user', 'enable', 'vdfs.service'], { stdio: 'ignore' }).status === 0;
  if (bin === 'launchctl') loaded = spawnSync(bin, ['load', path], { stdio: 'ignore' }).status === 0;
  ctx.print({ written: path, kind, loaded }, () =>
    loaded
      ? `wrote ${path} and enabled it with ${bin}`
      : `wrote ${path}; not loaded: ${kind === 'systemd' ? 'no systemd user manager answers here' : 'launchctl is not available'} (load it later with ${kind === 'systemd' ? '`systemctl --user enable --now vdfs`' : '`launchctl load`'})`,
  );
}

export function uninstall(ctx: CliContext): void {
  const { kind, path } = unitPath();
  if (!existsSync(path)) throw new SdError('E_NOT_INSTALLED', `no service file at ${path}`);
  if (ctx.flags.dryRun) {
    ctx.print({ wouldRemove: path }, () => `would remove ${path} (dry run: nothing was removed)`);
    return;
  }
  const bin = manager(kind);
  if (bin === 'systemctl') spawnSync(bin, ['--user', 'disable', 'vdfs.service'], { stdio: 'ignore' });
  if (bin === 'launchctl') spawnSync(bin, ['unload', path], { stdio: 'ignore' });
  rmSync(path, { force: true });
  ctx.print(
    { removed: path, kind, unloaded: !!bin },
    () => `removed ${path}${bin ? ` (unloaded with ${bin})` : ' (no service manager answered, nothing to unload)'}`,
  );
}
