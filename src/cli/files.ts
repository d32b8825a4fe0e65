// sd mv / cp / rename / mkdir / rm / trash.
import type { Command } from 'commander';

export function fileCommands(program: Command): void {
  void program;
}
