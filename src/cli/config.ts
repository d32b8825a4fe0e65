// sd config get|set|unset|list: the node's settings in <data>/settings.json (0600), read by the
// daemon at start. Works without a daemon; `sd status` shows what a running daemon uses.
import type { Command } from 'commander';
import { SdError } from '../errors.js';
import { ensurePrivateDir } from '../fsutil.js';
import {
  SETTINGS,
  SETTING_KEYS,
  parseSetting,
  readSettingsFile,
  resolveSettings,
  settingKey,
  settingsPath,
  shownValue,
  writeSettingsFile,
  type SettingKey,
} from '../daemon/settings.js';
import { loadDeviceName } from './device-name.js';
import { ctxOf } from './program.js';
import { loadWidth, table } from './format.js';
import type { CliContext } from './context.js';
import type { CommandInput, CommandName } from '../ops/registry.js';

/** What a `sd start` from this shell would use for each setting, and why. */
function effective(ctx: CliContext) {
  return resolveSettings(ctx.dataDir, {}, process.env, loadDeviceName(ctx.dataDir) ?? '(the host name)');
}

const applyNote = (key: SettingKey): string =>
  key === 'device.name' ? '' : '; a running daemon uses it from its next start (`sd stop`, then `sd start`)';

export function configCommands(program: Command): void {
  const config = program
    .command('config')
    .description(`the node's settings (${SETTING_KEYS.join(', ')}), kept in the data dir and read at start`);
  config
    .command('list')
    .description('every setting, its value and where it comes from (flag > environment > config > default)')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      await loadWidth(); // a table without an RPC call
      const s = effective(ctx);
      const rows = SETTING_KEYS.map((key) => ({
        key,
        value: shownValue(key, s[key].value),
        source: s[key].source,
        help: SETTINGS[key].help,
      }));
      ctx.print(rows, () =>
        table(
          ['SETTING', 'VALUE', 'FROM', 'MEANING'],
          rows.map((r) => [r.key, String(r.value), r.source, r.help]),
          ctx.style,
        ),
      );
    });
  config
    .command('get <key>')
    .description('the value a start would use (with its source under --json)')
    .action((key: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const k = settingKey(key);
      const v = effective(ctx)[k];
      ctx.print({ key: k, ...v }, () => String(v.value));
    });
  config
    .command('set <key> <value>')
    .description('store a setting in the data dir')
    .action(async (key: string, value: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const k = settingKey(key);
      const v = parseSetting(k, value, `sd config set ${k}`);
      const file = readSettingsFile(ctx.dataDir);
      if (ctx.flags.dryRun) {
        ctx.print(
          { wouldSet: k, value: v, file: settingsPath(ctx.dataDir) },
          () => `would set ${k} = ${v} in ${settingsPath(ctx.dataDir)} (dry run: nothing was changed)`,
        );
        return;
      }
      ensurePrivateDir(ctx.dataDir);
      writeSettingsFile(ctx.dataDir, { ...file, [k]: v });
      // The device name is applied at once when a daemon runs, as `sd device rename` would.
      const renamed =
        k === 'device.name'
          ? await renameRunning(ctx, String(v))
          : k === 'transfer.limit'
            ? await applyRunning(ctx, 'transfer.limit', { rate: String(v) })
            : false;
      const env = process.env[SETTINGS[k].env];
      ctx.print({ set: k, value: v, file: settingsPath(ctx.dataDir), appliedNow: renamed }, () =>
        [
          `${k} = ${v} (in ${settingsPath(ctx.dataDir)}${renamed ? (k === 'device.name' ? '; this device is renamed now' : '; the running daemon uses it now') : applyNote(k)})`,
          env ? `note: ${SETTINGS[k].env}=${env} in this shell's environment comes first` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });
  config
    .command('unset <key>')
    .description('remove a setting from the data dir (back to its default)')
    .action((key: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const k = settingKey(key);
      const file = readSettingsFile(ctx.dataDir);
      if (file[k] === undefined) throw new SdError('E_NOT_SET', `${k} is not set in ${settingsPath(ctx.dataDir)}`);
      if (ctx.flags.dryRun) {
        ctx.print({ wouldUnset: k }, () => `would remove ${k} (dry run: nothing was changed)`);
        return;
      }
      delete file[k];
      writeSettingsFile(ctx.dataDir, file);
      ctx.print({ unset: k }, () => `removed ${k}${applyNote(k)}`);
    });
}

async function renameRunning(ctx: CliContext, name: string): Promise<boolean> {
  return applyRunning(ctx, 'device.rename', { name });
}

async function applyRunning<N extends CommandName>(
  ctx: CliContext,
  command: N,
  input: CommandInput<N>,
): Promise<boolean> {
  try {
    await ctx.command(command, input, { yes: true });
    return true;
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_DAEMON_NOT_RUNNING') return false;
    throw e;
  }
}
