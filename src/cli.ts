// The `sd` command line: a thin RPC client over the daemon's socket, no business logic.
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { SdError, toErrorValue } from './errors.js';
import { EXIT } from './cli/context.js';
import { baseProgram, ctxOf } from './cli/program.js';
import { start, status, stop } from './cli/lifecycle.js';
import { install, uninstall } from './cli/service-unit.js';
import { libraryCommands } from './cli/library.js';
import { logCommands } from './cli/log.js';
import { locationCommands } from './cli/location.js';
import { fileCommands } from './cli/files.js';
import { metaCommands } from './cli/meta.js';
import { syncCommands } from './cli/sync.js';
import { doctorCommands } from './cli/doctor.js';

export function buildProgram(): Command {
  const program = baseProgram();
  program
    .command('start')
    .description('start the daemon (in the background unless --foreground)')
    .option('--foreground', 'stay attached; stop with Ctrl-C')
    .option('--p2p-port <port>', 'port for peer links (0 picks a free one)')
    .option('--webrtc', 'move peer links onto WebRTC data channels once connected (also SD_WEBRTC=on)')
    .action((o: { foreground?: boolean; p2pPort?: string; webrtc?: boolean }, cmd: Command) => {
      if (o.webrtc) process.env.SD_WEBRTC = 'on'; // inherited by the daemon process
      return start(ctxOf(cmd), o);
    });
  program
    .command('stop')
    .description('stop the daemon gracefully')
    .action((_o, cmd: Command) => stop(ctxOf(cmd)));
  program
    .command('status')
    .description('whether the daemon runs (exit 0) or not (exit 3), and its state')
    .action((_o, cmd: Command) => status(ctxOf(cmd)));
  const daemon = program.command('daemon').description('run the daemon as a user service');
  daemon
    .command('install')
    .description('write a systemd user unit (Linux) or launchd agent (macOS)')
    .action((_o, cmd: Command) => install(ctxOf(cmd)));
  daemon
    .command('uninstall')
    .description('remove the service file')
    .action((_o, cmd: Command) => uninstall(ctxOf(cmd)));
  libraryCommands(program);
  logCommands(program);
  locationCommands(program);
  fileCommands(program);
  metaCommands(program);
  syncCommands(program);
  doctorCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  let json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors
      process.exitCode = e.exitCode === 0 ? 0 : EXIT.usage;
      return;
    }
    const v = toErrorValue(e);
    if (json) process.stdout.write(`${JSON.stringify({ error: v }, null, 2)}\n`);
    else process.stderr.write(`sd: ${v.message}${v.code !== 'E_INTERNAL' ? ` (${v.code})` : ''}\n`);
    process.exitCode = e instanceof SdError && e.code === 'E_DAEMON_NOT_RUNNING' ? EXIT.notRunning : EXIT.error;
  } finally {
    for (const c of [program]) ctxOf(c).close();
  }
  json = false;
}
