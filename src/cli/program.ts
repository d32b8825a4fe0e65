// The commander program: global flags on every command, one CliContext per invocation.
import { Command, Option } from 'commander';
import { CliContext, type GlobalFlags } from './context.js';
import { terminalSafe } from './terminal.js';

const contexts = new WeakMap<Command, CliContext>();

export const VERSION = '0.1.0';

export function ctxOf(cmd: Command): CliContext {
  let root = cmd;
  while (root.parent) root = root.parent;
  let ctx = contexts.get(root);
  if (!ctx) {
    ctx = new CliContext(cmd.optsWithGlobals() as GlobalFlags);
    contexts.set(root, ctx);
  }
  return ctx;
}

/** Usage errors commander found while parsing, kept for `--json` (printed as `{error}` by main). */
export interface UsageSink {
  json: boolean;
  message?: string;
}

export function baseProgram(usage: UsageSink = { json: false }, name = 'sd'): Command {
  const program = new Command(name)
    .description('vdfs: your files on all your devices, indexed, searchable and synced peer to peer')
    // `sd` is a common name (Debian ships a find-and-replace tool called sd): the version line says whose it is.
    .version(`vdfs ${VERSION} (the sd command of vdfs)`, '-V, --version')
    .addOption(new Option('--data-dir <dir>', 'data directory (env SD_DATA_DIR; default $XDG_DATA_HOME/vdfs)'))
    .addOption(new Option('--library <name|id>', 'library to act on (default: the current one)'))
    .addOption(new Option('--json', 'print one JSON document on stdout'))
    .addOption(new Option('--dry-run', 'print the preview and change nothing'))
    .addOption(new Option('--yes', 'do not ask for confirmation'))
    // Every subcommand's --help lists the global flags too (settings below are inherited).
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeErr: (s) => {
        if (!usage.json) process.stderr.write(terminalSafe(s));
      },
      outputError: (s, write) => {
        usage.message = s.replace(/^error: /, '').trim();
        write(s);
      },
    })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  return program;
}
