// sd location ..., sd job ... (sd ls and sd info: browse.ts).
import type { Command } from 'commander';
import { ctxOf } from './program.js';
import { ago, bytes, shortId, table, time } from './format.js';
import { runCommand } from './run-command.js';
import { waitForJob } from './job-wait.js';
import { streamEvents, type CliContext } from './context.js';
import { absPath } from './paths.js';
import type { PhaseRow } from '../jobs/phase-times.js';
import type { CommandInput, CommandName } from '../ops/registry.js';

export function locationCommands(program: Command): void {
  const loc = program.command('location').description('folders indexed by this library');
  loc
    .command('add <path>')
    .description('add a folder and index it in the background')
    .option('--name <name>', 'a name for the location (default: the folder name)')
    .option('--no-watch', 'do not watch for changes after indexing')
    .option('--gitignore', 'respect .gitignore files')
    .option('--include-hidden', 'index hidden files and folders too')
    .option('--wait', 'wait for the index job to finish (progress bar on a TTY)')
    .option('--serve', 'serve its files to the other devices of the library (the default)')
    .option('--no-serve', 'never serve its files to other devices (sd cp --device is refused)')
    .option('--inbox', "make it this device's inbox: `sd send` from other devices lands here")
    .option('--accept <who>', 'with --inbox: members (accept at once, the default) or ask (`sd inbox accept`)')
    .action(
      async (
        path: string,
        o: {
          name?: string;
          watch: boolean;
          gitignore?: boolean;
          includeHidden?: boolean;
          wait?: boolean;
          serve: boolean;
          inbox?: boolean;
          accept?: string;
        },
        cmd: Command,
      ) => {
        const ctx = ctxOf(cmd);
        const rules = {
          ...(o.gitignore ? { gitignore: true } : {}),
          ...(o.includeHidden ? { skipHidden: false } : {}),
        };
        const quietUntilEnd = o.wait && !process.stdout.isTTY && !ctx.json;
        const out = await runCommandMaybeQuiet(
          ctx,
          'location.add',
          {
            path: absPath(path, 'location path'),
            name: o.name,
            watch: o.watch,
            rules,
            serve: o.serve,
            inbox: !!o.inbox,
            accept: o.accept,
          },
          !!quietUntilEnd || (!!o.wait && ctx.json),
        );
        if (o.wait && out.committed && out.result?.job) await waitForJob(ctx, out.result.job, out);
      },
    );
  loc
    .command('list')
    .description('locations with their files, size, last index and job state')
    .option('--device <device>', 'locations of another device')
    .action(async (o: { device?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query('location.list', { device: o.device });
      ctx.print(rows, () =>
        rows.length === 0
          ? 'no locations yet; add one with `sd location add PATH`'
          : table(
              ['ID', 'NAME', 'PATH', 'FILES', 'SIZE', 'LAST INDEXED', 'WATCHING', 'JOB', 'DEVICE'],
              rows.map((r) => [
                shortId(r.id),
                r.name,
                r.folder === 'replaced'
                  ? `${r.path} (not the folder indexed: disk not mounted?)`
                  : r.folder === 'missing'
                    ? `${r.path} (missing)`
                    : r.path,
                r.files,
                bytes(r.bytes),
                r.indexedAt ? ago(r.indexedAt) : 'never',
                r.watching ? 'yes' : r.watch && r.local ? 'no (error)' : 'no',
                r.jobState,
                r.local ? 'this' : r.deviceName,
              ]),
              ctx.style,
            ),
      );
    });
  loc
    .command('remove <id>')
    .description('remove a location and its entries from the index (never the files)')
    .action(async (ref: string, _o, cmd: Command) => {
      await runCommand(ctxOf(cmd), 'location.remove', { ref });
    });
  loc
    .command('rescan <id>')
    .description('rescan a location')
    .option('--full', 're-identify every file, not only new and changed ones')
    .option('--adopt', "take the folder now at the location's path as the location (after E_LOCATION_REPLACED)")
    .option('--wait', 'wait for the job to finish')
    .action(async (ref: string, o: { full?: boolean; adopt?: boolean; wait?: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const out = await runCommandMaybeQuiet(
        ctx,
        'location.rescan',
        { ref, full: !!o.full, adopt: !!o.adopt },
        !!o.wait && (!process.stdout.isTTY || ctx.json),
      );
      if (o.wait && out.committed) await waitForJob(ctx, out.result!.job, out);
    });

  const job = program.command('job').description('background jobs');
  job
    .command('list')
    .description('jobs, newest first')
    .option('--limit <n>', 'at most N', '20')
    .action(async (o: { limit: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rows = await ctx.query('job.list', { limit: Number(o.limit) });
      ctx.print(rows, () =>
        rows.length === 0
          ? 'no jobs'
          : table(
              ['ID', 'KIND', 'LOCATION', 'STATE', 'PHASE', 'DONE', 'RATE', 'ERRORS', 'CREATED'],
              rows.map((r) => [
                shortId(r.id),
                r.kind,
                r.location,
                r.state,
                r.phase,
                r.total ? `${r.done}/${r.total}` : r.done,
                r.rate ? `${r.rate}/s` : '-',
                r.errors,
                time(r.createdAt),
              ]),
              ctx.style,
            ),
      );
    });
  job
    .command('info <id>')
    .description('phase, counts, rate and errors of a job')
    .action(async (ref: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const j = await ctx.query('job.info', { ref });
      ctx.print(j, () =>
        [
          `job        ${j.id} (${j.kind})`,
          `state      ${j.state}${j.message ? ` — ${j.message}` : ''}`,
          `phase      ${j.phase ?? '-'}${j.checkpoint?.cursor ? ` (checkpoint at ${j.checkpoint.cursor})` : ''}`,
          `progress   ${j.done}${j.total ? ` of ${j.total}` : ''}, ${j.rate ?? 0}/s over ${(j.runMs / 1000).toFixed(1)} s, resumed ${j.resumes} time(s)`,
          `errors     ${j.errors}`,
          ...(j.phases.length
            ? [
                '',
                table(
                  ['PHASE', 'TIME', 'ITEMS', 'PER SECOND'],
                  j.phases.map((ph) => [
                    ph.phase,
                    `${(ph.ms / 1000).toFixed(2)} s`,
                    String(ph.n),
                    ph.perSec === null || ph.n === 0 ? '-' : ph.perSec.toLocaleString('en-US'),
                  ]),
                  ctx.style,
                ),
              ]
            : []),
          ...(j.errorList.length
            ? [
                '',
                table(
                  ['PATH', 'CODE', 'MESSAGE'],
                  j.errorList.map((e) => [e.path, e.code, e.message.slice(0, 80)]),
                  ctx.style,
                ),
              ]
            : []),
        ].join('\n'),
      );
    });
  for (const [verb, name] of [
    ['pause', 'job.pause'],
    ['resume', 'job.resume'],
    ['cancel', 'job.cancel'],
  ] as const) {
    job
      .command(`${verb} <id>`)
      .description(`${verb} a job`)
      .action(async (ref: string, _o, cmd: Command) => {
        await runCommand(ctxOf(cmd), name, { ref });
      });
  }
  job
    .command('watch')
    .description('live progress of all jobs until interrupted')
    .action(async (_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const rpc = await ctx.rpc();
      const active = new Set(await activeJobs(ctx));
      const idle = (): void => {
        if (!ctx.json) ctx.out(`${time(Date.now())}  no jobs running (waiting for new ones; Ctrl-C to stop)\n`);
      };
      const s = streamEvents(rpc, { kinds: ['job'], library: ctx.flags.library }, (m) => {
        const x = ctx.safe(m);
        if (ctx.json) ctx.out(`${JSON.stringify(x)}\n`);
        else
          ctx.out(
            `${time(Date.now())}  ${shortId(x.job)} ${x.jobKind} ${x.state}${x.phase ? ` ${x.phase}` : ''} ${x.done ?? 0}${x.total ? `/${x.total}` : ''}${x.rate ? ` ${x.rate}/s` : ''}${x.errors ? ` ${x.errors} errors` : ''}\n`,
          );
        const was = active.size;
        if (ACTIVE.has(x.state)) active.add(x.job);
        else active.delete(x.job);
        if (was > 0 && active.size === 0) idle();
      });
      if (active.size === 0) idle();
      process.once('SIGINT', () => s.cancel());
      process.once('SIGTERM', () => s.cancel());
      await s.done;
    });
}

const ACTIVE = new Set(['queued', 'running']);

/** Jobs queued or running in the libraries watched (every open one unless --library). */
async function activeJobs(ctx: CliContext): Promise<string[]> {
  const libs = ctx.flags.library
    ? [ctx.flags.library]
    : (await ctx.query('library.list')).filter((l) => !l.locked).map((l) => l.id);
  const ids: string[] = [];
  for (const library of libs) {
    const jobs = await ctx.query('job.list', { limit: 1000 }, false, library);
    ids.push(...jobs.filter((j) => ACTIVE.has(j.state)).map((j) => j.id));
  }
  return ids;
}

async function runCommandMaybeQuiet<N extends CommandName>(
  ctx: CliContext,
  name: N,
  input: CommandInput<N>,
  quiet: boolean,
) {
  if (!quiet) return runCommand(ctx, name, input);
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await runCommand(ctx, name, input);
  } finally {
    process.stdout.write = write;
  }
}
