// Locations: add (refusing nested or parent locations), remove (index only, never files), rescan.
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { check, defineCommand } from '../define.js';
import type { Library } from '../../library/library.js';
import { estimateWork } from './estimate.js';
import { newLocationId } from '../../projections/rules.js';
import { excludedBelow, pseudoFilesystem } from '../../jobs/exclude.js';
import { openDataDirs } from '../../fsutil.js';
import { checkFolder, folderAt, folderIdOf, forgetFolder, recordFolder } from '../../jobs/location-folder.js';
import type { ReadonlyLibrary } from '../host.js';

const Rules = z
  .object({
    skipHidden: z.boolean().optional(),
    skipNames: z.array(z.string()).optional(),
    gitignore: z.boolean().optional(),
  })
  .strict();

export interface LocationInfo {
  id: string;
  dev: string;
  path: string;
  name: string;
  watch: number;
}

export function locationsOf(lib: ReadonlyLibrary, dev?: string): LocationInfo[] {
  const rows = lib.db.prepare('SELECT id, dev, path, name, watch FROM locations ORDER BY path').all() as LocationInfo[];
  return dev ? rows.filter((r) => r.dev === dev) : rows;
}

export function findLocation(lib: ReadonlyLibrary, ref: string, dev: string): LocationInfo {
  const mine = locationsOf(lib, dev);
  const hit = mine.filter(
    (l) => l.id === ref || l.name === ref || (ref.length >= 4 && l.id.startsWith(ref)) || l.path === resolve(ref),
  );
  if (hit.length === 1) return hit[0]!;
  if (hit.length > 1) throw new SdError('E_AMBIGUOUS_LOCATION', `"${ref}" matches ${hit.length} locations; use the id`);
  throw new SdError('E_LOCATION_NOT_FOUND', `no location "${ref}" on this device (see \`sd location list\`)`);
}

const inside = (child: string, parent: string): boolean =>
  child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

export const addLocation = defineCommand({
  name: 'location.add',
  summary: 'add a folder to the library and index it',
  input: z.object({
    path: z.string().min(1),
    name: z.string().trim().min(1).max(200).optional(),
    watch: z.boolean().default(true),
    rules: Rules.default({}),
    /** Its files are served to members (sd cp --device); the default. */
    serve: z.boolean().default(true),
    /** This device's inbox for `sd send`, accepting drops from members at once or asking first. */
    inbox: z.boolean().default(false),
    accept: z.enum(['members', 'ask']).optional(),
  }),
  preview: ({ core, lib, planOnly }, input) => {
    if (!isAbsolute(input.path)) throw new SdError('E_BAD_INPUT', `the path must be absolute: ${input.path}`);
    let path: string;
    try {
      path = realpathSync(input.path);
      if (!statSync(path).isDirectory()) throw new SdError('E_LOCATION_NOT_DIR', `${input.path} is not a folder`);
    } catch (e) {
      if (e instanceof SdError) throw e;
      throw new SdError(
        'E_PATH_NOT_FOUND',
        `${input.path} does not exist or cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { path: input.path },
      );
    }
    const pseudo = pseudoFilesystem(path);
    if (pseudo)
      throw new SdError(
        'E_PSEUDO_FILESYSTEM',
        `${path} is on ${pseudo.startsWith('/') ? `the pseudo filesystem mounted at ${pseudo}` : pseudo} (kernel and device files, not data); it cannot be a location`,
        { path },
      );
    for (const d of openDataDirs())
      if (inside(path, d))
        throw new SdError('E_LOCATION_IN_DATA_DIR', `${path} is inside the data dir ${d}; it cannot be a location`, {
          path,
          dataDir: d,
        });
    for (const l of locationsOf(lib, core.device.id)) {
      if (l.path === path)
        throw new SdError('E_LOCATION_EXISTS', `${path} is already a location ("${l.name}", ${l.id.slice(0, 8)})`, {
          path,
        });
      if (inside(path, l.path))
        throw new SdError('E_LOCATION_NESTED', `${path} is inside the location ${l.path}; rescan that one instead`, {
          path,
          other: l.path,
        });
      if (inside(l.path, path))
        throw new SdError('E_LOCATION_NESTED', `${path} contains the location ${l.path}; remove that one first`, {
          path,
          other: l.path,
        });
    }
    // The index job that follows needs the hashing threads: they start now, beside the commit.
    core.jobs.warmThreads();
    const excluded = excludedBelow(path);
    // The estimate lists the whole tree (up to 300 ms): worth it only when a person reads the plan
    // before it commits (--dry-run). On the way to a commit it would only delay the index job,
    // whose progress counts the same entries as it walks.
    const est = planOnly
      ? estimateWork(
          path,
          input.rules,
          excluded.map((e) => e.path),
        )
      : undefined;
    const name = input.name ?? (path.split(sep).pop() || path);
    if (input.accept && !input.inbox) throw new SdError('E_BAD_INPUT', '--accept applies to an inbox: add --inbox');
    return {
      summary: `add location "${name}" at ${path}`,
      changes: [
        {
          op: 'create',
          target: `location "${name}"`,
          detail: `${path}${input.serve ? '' : ', not served to other devices'}${input.inbox ? `, the inbox (${input.accept === 'ask' ? 'asks before accepting' : 'accepts from members'})` : ''}`,
        },
        {
          op: 'queue',
          target: 'index job',
          detail: `every file and folder below it${input.watch ? ', then watch for changes' : ''}`,
        },
      ],
      warnings: excluded.map((e) => `${e.path} (${e.why}) is inside this location: it is never indexed`),
      ...(est
        ? {
            notes: [
              `${est.partial ? 'at least' : 'about'} ${est.files} files in ${est.dirs} folders to index${est.partial ? ` (the estimate stopped after ${est.files + est.dirs} entries; the folder is larger)` : ''}`,
            ],
            info: { estimate: est },
          }
        : {}),
      // The folder its first index must find there (location-folder.ts).
      data: { path, name, folder: folderIdOf(statSync(path, { bigint: true }), path) },
    };
  },
  commit: ({ core, lib }, plan) => {
    const id = newLocationId(core.device.id);
    const d = plan.data!;
    lib.write(() => {
      recordFolder(lib.db, id, d.folder);
      lib.append('location.added', {
        id,
        path: d.path,
        name: d.name,
        watch: plan.input.watch,
        rules: plan.input.rules,
        ...(plan.input.serve ? {} : { serve: false }),
        ...(plan.input.inbox ? { inbox: true, accept: plan.input.accept ?? 'members' } : {}),
      });
    });
    // Once committed, the event reaches JobManager, which queues the index job and starts the watcher.
    lib.flush();
    const job = core.jobs.latestFor(id) ?? null;
    return { id, job, path: d.path, name: d.name };
  },
  verify: ({ core, lib }, _plan, result) => {
    const row = lib.db.prepare('SELECT path FROM locations WHERE id = ?').get(result.id) as
      { path: string } | undefined;
    return [
      check(row?.path === result.path, 'location is recorded'),
      ...(core.jobs.serving
        ? [check(!!lib.db.prepare('SELECT 1 FROM jobs WHERE id = ?').get(result.job), 'index job is queued')]
        : []),
    ];
  },
});

export const removeLocation = defineCommand({
  name: 'location.remove',
  summary: 'remove a location and its entries from the index (never the files)',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ core, lib }, { ref }) => {
    const l = findLocation(lib, ref, core.device.id);
    const n = (lib.db.prepare('SELECT COUNT(*) AS n FROM entries WHERE loc = ?').get(l.id) as { n: number }).n;
    return {
      summary: `remove location "${l.name}" (${l.path}) from the index`,
      changes: [
        {
          op: 'delete',
          target: `location "${l.name}"`,
          detail: `${n} index entries; the files on disk are not touched`,
        },
      ],
      data: { id: l.id, path: l.path },
    };
  },
  commit: async ({ core, lib }, plan) => {
    lib.write(() => lib.append('location.removed', { id: plan.data!.id }));
    // Once committed, JobManager cancels the location's jobs (at their next batch) and its watcher.
    lib.flush();
    await core.jobs.locationSettled(plan.data!.id);
    forgetFolder(lib.db, plan.data!.id);
    return { id: plan.data!.id };
  },
  verify: ({ lib }, plan) => [
    check(!lib.db.prepare('SELECT 1 FROM locations WHERE id = ?').get(plan.data!.id), 'location removed'),
    check(
      !lib.db.prepare('SELECT 1 FROM entries WHERE loc = ? LIMIT 1').get(plan.data!.id),
      'its entries removed from the index',
    ),
    check(statSync(plan.data!.path, { throwIfNoEntry: false }) !== undefined, 'the folder itself is still on disk'),
  ],
});

export const rescanLocation = defineCommand({
  name: 'location.rescan',
  summary: 'rescan a location (--full re-identifies every file; --adopt takes the folder now at its path)',
  input: z.object({ ref: z.string().min(1), full: z.boolean().default(false), adopt: z.boolean().default(false) }),
  preview: ({ core, lib }, { ref, full, adopt }) => {
    const l = findLocation(lib, ref, core.device.id);
    const seen = folderAt(l.path);
    // Said now, not by a job that fails later; a folder that cannot be read is the job's to say.
    if (seen && !adopt) checkFolder(lib.db, l, seen, undefined);
    if (adopt && !seen) throw new SdError('E_LOCATION_UNREADABLE', `there is no folder at ${l.path} to adopt`);
    return {
      summary: `${full ? 'fully ' : ''}rescan "${l.name}" (${l.path})`,
      changes: [
        ...(adopt
          ? [
              {
                op: 'update',
                target: `location "${l.name}"`,
                detail: `the folder now at ${l.path} (inode ${seen!.ino}) becomes the location's; what the index holds that it lacks goes`,
              },
            ]
          : []),
        {
          op: 'queue',
          target: 'index job',
          detail: full ? 'walk and re-identify every file' : 'walk and identify new or changed files',
        },
      ],
      // The job adopts this folder only: another one put at the path since is refused.
      data: { id: l.id, ...(adopt ? { adopt: seen } : {}) },
    };
  },
  commit: ({ core, lib }, plan) => ({
    id: plan.data!.id,
    job: core.jobs.enqueue(lib, 'index', plan.data!.id, {
      loc: plan.data!.id,
      full: plan.input.full,
      ...(plan.data!.adopt ? { adopt: plan.data!.adopt } : {}),
    }).id,
  }),
  verify: ({ lib }, _plan, result) => [
    check(!!lib.db.prepare('SELECT 1 FROM jobs WHERE id = ?').get(result.job), 'index job is queued'),
  ],
});
