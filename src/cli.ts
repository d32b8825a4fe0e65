// The `sd` command line: a thin RPC client over the daemon's socket, no business logic.
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { SdError, toErrorValue } from './errors.js';
import { EXIT } from './cli/context.js';
import { baseProgram, ctxOf, type UsageSink } from './cli/program.js';
import { escapeControls } from './cli/terminal.js';
import { start, status, stop } from './cli/lifecycle.js';
import { install, uninstall } from './cli/service-unit.js';
import { libraryCommands } from './cli/library.js';
import { logCommands } from './cli/log.js';
import { locationCommands } from './cli/location.js';
import { browseCommands } from './cli/browse.js';
import { fileCommands } from './cli/files.js';
import { transferCommands } from './cli/transfer.js';
import { metaCommands } from './cli/meta.js';
import { findCommands } from './cli/find.js';
import { syncCommands } from './cli/sync.js';
import { doctorCommands } from './cli/doctor.js';
import { configCommands } from './cli/config.js';
import { addStartFlags, type StartOptions } from './cli/start-flags.js';

export function buildProgram(usage?: UsageSink, name?: string): Command {
  const program = baseProgram(usage, name);
  addStartFlags(
    program
      .command('start')
      .description('start the daemon (in the background unless --foreground)')
      .option('--foreground', 'stay attached and print the log; stop with Ctrl-C'),
  ).action((o: StartOptions & { foreground?: boolean }, cmd: Command) => start(ctxOf(cmd), o));
  program
    .command('stop')
    .description('stop the daemon gracefully')
    .action((_o, cmd: Command) => stop(ctxOf(cmd)));
  program
    .command('status')
    .description('whether the daemon runs (exit 0) or not (exit 3), and its state')
    .option('--services', 'every actor (services, peers, sessions, jobs, watchers), its state and for how long')
    .action((o: { services?: boolean }, cmd: Command) => status(ctxOf(cmd), o));
  const daemon = program.command('daemon').description('run the daemon as a user service');
  addStartFlags(
    daemon
      .command('install')
      .description(
        'write a systemd user unit (Linux) or launchd agent (macOS) for this data dir, with these start flags',
      ),
  ).action((o: StartOptions, cmd: Command) => install(ctxOf(cmd), o));
  daemon
    .command('uninstall')
    .description('remove the service file')
    .action((_o, cmd: Command) => uninstall(ctxOf(cmd)));
  libraryCommands(program);
  logCommands(program);
  locationCommands(program);
  browseCommands(program);
  fileCommands(program);
  transferCommands(program);
  metaCommands(program);
  findCommands(program);
  syncCommands(program);
  doctorCommands(program);
  configCommands(program);
  return program;
}

/** Usage errors and bad option values exit 2 (as the README says); no daemon exits 3. */
const USAGE_CODES = new Set(['E_USAGE', 'E_BAD_INPUT', 'E_RELATIVE_PATH']);

export async function main(argv: string[], name: 'sd' | 'vdfs' = 'sd'): Promise<void> {
  // `sd ... | head` closes our stdout early: end quietly, as `git log | head` does.
  for (const s of [process.stdout, process.stderr])
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  const json = argv.includes('--json');
  const usage: UsageSink = { json };
  const program = buildProgram(usage, name);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors
      if (e.exitCode === 0) {
        process.exitCode = 0;
        return;
      }
      process.exitCode = EXIT.usage;
      const message = usage.message ?? e.message.replace(/^error: /, '');
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'E_USAGE', message } }, null, 2)}\n`);
      return;
    }
    const v = toErrorValue(e);
    if (json) process.stdout.write(`${JSON.stringify({ error: v }, null, 2)}\n`);
    else
      process.stderr.write(`${name}: ${escapeControls(v.message)}${v.code !== 'E_INTERNAL' ? ` (${v.code})` : ''}\n`);
    process.exitCode =
      e instanceof SdError && e.code === 'E_DAEMON_NOT_RUNNING'
        ? EXIT.notRunning
        : USAGE_CODES.has(v.code)
          ? EXIT.usage
          : EXIT.error;
  } finally {
    ctxOf(program).close();
  }
}
