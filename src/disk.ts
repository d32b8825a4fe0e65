// Full disks. Every write path and timer hands SQLITE_FULL / ENOSPC to the monitor of the data
// dir it writes into instead of crashing: the daemon keeps running, `sd status` shows the
// condition, and once the filesystem has room again (checked every few seconds while full) the
// monitor says so and what was paused (jobs, unfinished file operations) resumes.
import { statfsSync } from 'node:fs';
import { createActor, fromPromise, setup, assign, type ActorRefFrom } from 'xstate';

/** Free space a write needs before we call the disk usable again. */
export const MIN_FREE_BYTES = 4 * 1024 * 1024;
export const CHECK_MS = 2_000;

export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || code === 'E_DISK_FULL';
}

export interface DiskCondition {
  full: boolean;
  /** When the disk was found full (ms), what failed, and the message. */
  since?: number;
  where?: string;
  message?: string;
  freeBytes: number | null;
}

export function freeBytes(path: string): number | null {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

interface Ctx {
  dir: string;
  since?: number;
  where?: string;
  message?: string;
}
type Ev = { type: 'FULL'; where: string; message: string };

const diskMachine = setup({
  types: {} as { context: Ctx; events: Ev; input: { dir: string } },
  actors: {
    roomAgain: fromPromise(
      async ({ input }: { input: { dir: string } }) => (freeBytes(input.dir) ?? 0) >= MIN_FREE_BYTES,
    ),
  },
  actions: {
    note: assign(({ event, context }) => ({
      since: context.since ?? Date.now(),
      where: event.where,
      message: event.message,
    })),
    clear: assign({ since: undefined, where: undefined, message: undefined }),
  },
  delays: { CHECK: CHECK_MS },
}).createMachine({
  id: 'disk',
  context: ({ input }) => ({ dir: input.dir }),
  initial: 'ok',
  states: {
    ok: { on: { FULL: { target: 'full', actions: 'note' } } },
    full: {
      on: { FULL: { actions: 'note' } },
      after: { CHECK: 'checking' },
    },
    checking: {
      on: { FULL: { actions: 'note' } },
      invoke: {
        src: 'roomAgain',
        input: ({ context }) => ({ dir: context.dir }),
        onDone: [{ guard: ({ event }) => event.output, target: 'ok', actions: 'clear' }, { target: 'full' }],
        onError: 'full',
      },
    },
  },
});

/** One per data dir: the state of the disk its databases and logs are written to. */
export class DiskMonitor {
  private readonly actor: ActorRefFrom<typeof diskMachine>;
  private readonly listeners = new Set<() => void>();

  constructor(readonly dir: string) {
    this.actor = createActor(diskMachine, { input: { dir } });
    let was = 'ok';
    this.actor.subscribe((s) => {
      const now = String(s.value);
      if (now === 'ok' && was !== 'ok') for (const l of this.listeners) l();
      was = now;
    });
    this.actor.start();
    monitors.add(this);
  }

  /** Notes a failed write; true when it was a full disk (the caller carries on). */
  report(e: unknown, where: string): boolean {
    if (!isDiskFull(e)) return false;
    this.actor.send({ type: 'FULL', where, message: e instanceof Error ? e.message : String(e) });
    return true;
  }

  get condition(): DiskCondition {
    const s = this.actor.getSnapshot();
    const full = s.value !== 'ok';
    return {
      full,
      ...(full ? { since: s.context.since, where: s.context.where, message: s.context.message } : {}),
      freeBytes: freeBytes(this.dir),
    };
  }

  /** Called each time the disk has room again after being full. */
  onSpace(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop(): void {
    this.actor.stop();
    monitors.delete(this);
  }
}

const monitors = new Set<DiskMonitor>();

/**
 * For write paths that know only the file they write (a library database, a log): the monitor
 * of the data dir holding it notes the failure. True when it was a full disk.
 */
export function reportWriteError(e: unknown, file: string, where: string): boolean {
  if (!isDiskFull(e)) return false;
  for (const m of monitors) if (file.startsWith(`${m.dir}/`)) m.report(e, where);
  return true;
}
