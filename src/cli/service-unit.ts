// sd daemon install / uninstall: a systemd user unit on Linux, a launchd agent on macOS, one per
// data dir (two data dirs never overwrite each other's unit), with the start flags given.
// The file is always written; it is loaded only when the service manager is there.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SdError } from '../errors.js';
import type { CliContext } from './context.js';
import { entryArgs, startFlags, type StartOptions } from './start-flags.js';
import { DAEMON_NODE_FLAGS } from '../daemon/node-flags.js';

const ENTRY = fileURLToPath(new URL('../daemon/entry.js', import.meta.url));
const LABEL = 'dev.vdfs.daemon';

interface Unit {
  kind: 'systemd' | 'launchd';
  /** The unit's name (systemd) or label (launchd). */
  name: string;
  path: string;
}

/** `vdfs` for the default data dir; `vdfs-<folder>-<hash>` for any other. */
export function unitName(dataDir: string): string {
  const xdg = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  if (dataDir === resolve(xdg, 'vdfs')) return 'vdfs';
  const slug =
    basename(dataDir)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 24) || 'data';
  return `vdfs-${slug}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
}

function unitFor(dataDir: string): Unit {
  const name = unitName(dataDir);
  if (process.platform === 'darwin') {
    const label = name === 'vdfs' ? LABEL : `${LABEL}.${name.slice(5)}`;
    return { kind: 'launchd', name: label, path: join(homedir(), 'Library', 'LaunchAgents', `${label}.plist`) };
  }
  if (process.platform === 'linux') {
    const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
    return { kind: 'systemd', name: `${name}.service`, path: join(base, 'systemd', 'user', `${name}.service`) };
  }
  throw new SdError(
    'E_UNSUPPORTED_PLATFORM',
    `no service manager support on ${process.platform}; run \`sd start\` instead`,
  );
}

/**
 * One word for systemd: double-quoted, with its specifier sign (%) doubled, and in command
 * lines (not in Environment=, which expands no variables) its variable sign ($) too.
 */
export function systemdQuote(arg: string, command = true): string {
  const s = arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%');
  return `"${command ? s.replace(/\$/g, '$$$$') : s}"`;
}

function systemdUnit(dataDir: string, args: string[]): string {
  const exec = [process.execPath, ...DAEMON_NODE_FLAGS, ENTRY, '--data-dir', dataDir, ...args]
    .map((a) => systemdQuote(a))
    .join(' ');
  return `[Unit]
Description=vdfs daemon (${dataDir.replace(/%/g, '%%')})
After=network-online.target

[Service]
Type=simple
ExecStart=${exec}
Restart=on-failure
Environment=${systemdQuote(`SD_DATA_DIR=${dataDir}`, false)}
Environment=MALLOC_ARENA_MAX=2

[Install]
WantedBy=default.target
`;
}

function launchdPlist(label: string, dataDir: string, args: string[]): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const argv = [process.execPath, ...DAEMON_NODE_FLAGS, ENTRY, '--data-dir', dataDir, ...args].map(
    (a) => `<string>${esc(a)}</string>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>${esc(label)}</string>
  <key>ProgramArguments</key><array>${argv.join('')}</array>
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

export function install(ctx: CliContext, opts: StartOptions): void {
  if (/[\u0000-\u001f\u007f]/.test(ctx.dataDir))
    throw new SdError('E_BAD_INPUT', 'the data dir path has control characters; a service unit cannot name it');
  const args = entryArgs(startFlags(opts));
  const unit = unitFor(ctx.dataDir);
  const text = unit.kind === 'systemd' ? systemdUnit(ctx.dataDir, args) : launchdPlist(unit.name, ctx.dataDir, args);
  if (ctx.flags.dryRun) {
    ctx.print(
      { wouldWrite: unit.path, kind: unit.kind, unit: unit.name, content: text },
      () => `would write ${unit.path}:\n\n${text}\n(dry run: nothing was written)`,
    );
    return;
  }
  mkdirSync(dirname(unit.path), { recursive: true });
  writeFileSync(unit.path, text);
  const bin = manager(unit.kind);
  let loaded = false;
  if (bin === 'systemctl')
    loaded =
      spawnSync(bin, ['--user', 'daemon-reload'], { stdio: 'ignore' }).status === 0 &&
      spawnSync(bin, ['--user', 'enable', unit.name], { stdio: 'ignore' }).status === 0;
  if (bin === 'launchctl') loaded = spawnSync(bin, ['load', unit.path], { stdio: 'ignore' }).status === 0;
  const later =
    unit.kind === 'systemd' ? `\`systemctl --user enable --now ${unit.name}\`` : `\`launchctl load ${unit.path}\``;
  ctx.print({ written: unit.path, kind: unit.kind, unit: unit.name, loaded }, () =>
    loaded
      ? `wrote ${unit.path} and enabled it with ${bin} (start it now with ${unit.kind === 'systemd' ? `\`systemctl --user start ${unit.name}\`` : 'launchctl'})`
      : `wrote ${unit.path}; not loaded: ${unit.kind === 'systemd' ? 'no systemd user manager answers here' : 'launchctl is not available'} (load it later with ${later})`,
  );
}

export function uninstall(ctx: CliContext): void {
  const unit = unitFor(ctx.dataDir);
  if (!existsSync(unit.path)) throw new SdError('E_NOT_INSTALLED', `no service file at ${unit.path}`);
  if (ctx.flags.dryRun) {
    ctx.print({ wouldRemove: unit.path }, () => `would remove ${unit.path} (dry run: nothing was removed)`);
    return;
  }
  const bin = manager(unit.kind);
  if (bin === 'systemctl') spawnSync(bin, ['--user', 'disable', unit.name], { stdio: 'ignore' });
  if (bin === 'launchctl') spawnSync(bin, ['unload', unit.path], { stdio: 'ignore' });
  rmSync(unit.path, { force: true });
  ctx.print(
    { removed: unit.path, kind: unit.kind, unloaded: !!bin },
    () =>
      `removed ${unit.path}${bin ? ` (unloaded with ${bin})` : ' (no service manager answered, nothing to unload)'}`,
  );
}
