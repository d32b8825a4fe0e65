// The commander program: global flags on every command, one CliContext per invocation.
import { Command, Option } from 'commander';
import { CliContext, type GlobalFlags } from './context.js';

const contexts = new WeakMap<Command, CliContext>();

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

export function baseProgram(): Command {
  const program = new Command('sd')
    .description('vdfs: your files on all your devices, indexed, searchable and synced peer to peer')
    .version('0.1.0', '-V, --version')
    .addOption(new Option('--data-dir <dir>', 'data directory (env SD_DATA_DIR; default $XDG_DATA_HOME/vdfs)'))
    .addOption(new Option('--library <name|id>', 'library to act on (default: the current one)'))
    .addOption(new Option('--json', 'print one JSON document on stdout'))
    .addOption(new Option('--dry-run', 'print the preview and change nothing'))
    .addOption(new Option('--yes', 'do not ask for confirmation'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  return program;
}
