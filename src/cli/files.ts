// sd mv / cp / rename / mkdir / rm / trash: paths are made absolute against the CLI's working
// folder here; the daemon refuses anything outside the library's locations.
import type { Command } from 'commander';
import { ctxOf } from './program.js';
import { bytes, shortId, table, time } from './format.js';
import { runCommand } from './run-command.js';
import { absPath } from './paths.js';
import { argInStringForm } from '../jobs/names.js';
import { pullCommand } from './transfer.js';

// Names that are not valid UTF-8 reach the daemon in their string form (jobs/names.ts).
const abs = (p: string): string => absPath(argInStringForm(p));
const TRASH_ID = /^[0-9a-z]+-[0-9a-f]{4,}$/;
const CONFLICT = '--on-conflict <how>';
const CONFLICT_HELP = 'skip | overwrite (the old one goes to the trash) | rename';

export function fileCommands(program: Command): void {
  for (const [verb, name, what] of [
    ['mv', 'entry.mv', 'move'],
    ['cp', 'entry.cp', 'copy'],
  ] as const) {
    program
      .command(`${verb} <paths...>`)
      .description(`${what} files and folders: SRC... DST (DST an existing folder, or a new name for one SRC)`)
      .option(CONFLICT, CONFLICT_HELP);
    if (verb === 'cp')
      program.commands
        .at(-1)!
        .option('--device <device>', 'copy from another device (SRC are its paths, DEST is here)')
        .option('--no-wait', 'with --device: return once the transfer is queued');
    program.commands
      .at(-1)!
      .action(async (paths: string[], o: { onConflict?: string; device?: string; wait?: boolean }, cmd: Command) => {
        if (paths.length < 2) cmd.error(`sd ${verb}: give at least one source and a destination`);
        if (o.device !== undefined)
          return pullCommand(
            ctxOf(cmd),
            paths.slice(0, -1).map((p) => argInStringForm(p)),
            { device: o.device, onConflict: o.onConflict, wait: o.wait !== false },
            abs(paths[paths.length - 1]!),
          );
        const all = paths.map(abs);
        await runCommand(ctxOf(cmd), name, {
          sources: all.slice(0, -1),
          dest: all[all.length - 1],
          onConflict: o.onConflict,
        });
      });
  }
  program
    .command('rename <path> <newname>')
    .description('rename a file or folder in place')
    .option(CONFLICT, CONFLICT_HELP)
    .action(async (path: string, newName: string, o: { onConflict?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'entry.rename', {
        path: abs(path),
        name: argInStringForm(newName),
        onConflict: o.onConflict,
      });
    });
  program
    .command('mkdir <path>')
    .description('create a folder')
    .action(async (path: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'entry.mkdir', { path: abs(path) });
    });
  program
    .command('rm <paths...>')
    .description("remove files and folders into the location's trash (sd trash restore brings them back)")
    .option('--permanent', 'delete for good instead (asks for confirmation)')
    .action(async (paths: string[], o: { permanent?: boolean }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'entry.rm', { paths: paths.map(abs), permanent: !!o.permanent });
    });

  const trash = program.command('trash').description('removed files, kept inside each location until emptied');
  trash
    .command('list')
    .description('what is in the trash, newest first')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query('trash.list', {});
      ctx.print(rows, () =>
        rows.length === 0
          ? 'the trash is empty'
          : table(
              ['ID', 'ORIGINAL PATH', 'FILES', 'SIZE', 'WHY', 'REMOVED'],
              rows.map((r) => [
                shortId(r.id, 16),
                r.originalPath,
                r.files,
                bytes(r.bytes),
                r.reason,
                time(r.deletedAt),
              ]),
              ctx.style,
            ),
      );
    });
  trash
    .command('restore [ref]')
    .description('put an item back (by id or original path); without one, the last removal')
    .option(CONFLICT, CONFLICT_HELP)
    .action(async (ref: string | undefined, o: { onConflict?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'trash.restore', {
        ref: ref === undefined || TRASH_ID.test(ref) ? ref : abs(ref),
        onConflict: o.onConflict,
      });
    });
  trash
    .command('empty')
    .description('delete what is in the trash for good (asks for confirmation)')
    .option('--older-than <days>', 'only items removed more than DAYS days ago')
    .action(async (o: { olderThan?: string }, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'trash.empty', {
        olderThanDays: o.olderThan === undefined ? undefined : Number(o.olderThan),
      });
    });
}
