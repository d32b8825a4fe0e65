// One watched location: file-system events are gathered into the set of folders that changed and
// reported to JobManager as one CHANGED once the location has been quiet for a moment (or after
// at most MAX_WAIT_MS of continuous changes), so a burst of 10,000 changes is one rescan, not
// 10,000. JobManager queues the rescan. The operating system's watch is the `fsEvents` actor.
import { assign, fromCallback, raise, sendParent, setup } from 'xstate';

export const QUIET_MS = 150;
export const MAX_WAIT_MS = 800;
/** More changed folders than this are rescanned as the whole location. */
export const MAX_SCOPES = 256;

export interface WatcherInput {
  lib: string;
  loc: string;
}

export interface WatcherContext extends WatcherInput {
  /** Folders (relative, '' for the root) changed since the last report. */
  dirs: Set<string>;
  /** Paths (relative) another writer holds, with how many hold each: their changes are not ours to rescan. */
  held: Map<string, number>;
}

export type WatcherEvent =
  /** `path`: the name that changed, when known; `dir`: its folder. */
  | { type: 'FS_CHANGE'; dir: string; path?: string }
  | { type: 'WATCH_FAILED'; message: string }
  /** A transfer writes at `path` and indexes what it places itself (src/transfer/job.ts). */
  | { type: 'HOLD'; path: string }
  /** The writer is done; changes it caused may still be on their way, so the hold ends a moment later. */
  | { type: 'RELEASE'; path: string }
  | { type: 'UNHOLD'; path: string };

const within = (p: string, root: string): boolean => p === root || p.startsWith(`${root}/`);

/** A change inside a held path (the name itself, or a folder inside it). */
export const isHeld = (held: Map<string, number>, e: { dir: string; path?: string }): boolean => {
  for (const h of held.keys()) if (within(e.path ?? e.dir, h) || within(e.dir, h)) return true;
  return false;
};

const counted = (held: Map<string, number>, path: string, by: number): Map<string, number> => {
  const next = new Map(held);
  const n = (next.get(path) ?? 0) + by;
  if (n > 0) next.set(path, n);
  else next.delete(path);
  return next;
};

/** The folders to rescan for a set of changed ones: the whole location past MAX_SCOPES. */
export const scopeOf = (dirs: Set<string>): string[] => (dirs.has('') || dirs.size > MAX_SCOPES ? [''] : [...dirs]);

export const watcherMachine = setup({
  types: {} as { context: WatcherContext; events: WatcherEvent; input: WatcherInput },
  actors: {
    /** The operating system's watch of the location: FS_CHANGE per relevant event, WATCH_FAILED. */
    fsEvents: fromCallback<WatcherEvent, WatcherInput>(() => () => undefined),
  },
  actions: {
    note: assign(({ context, event }) => {
      if (event.type !== 'FS_CHANGE' || context.dirs.has(event.dir) || context.dirs.has('')) return {};
      return { dirs: context.dirs.size >= MAX_SCOPES ? new Set(['']) : new Set(context.dirs).add(event.dir) };
    }),
    /** CHANGED with the folders to rescan goes to JobManager. */
    report: sendParent(({ context }: { context: WatcherContext }, params: { scope: string[] }) => ({
      type: 'CHANGED' as const,
      lib: context.lib,
      loc: context.loc,
      scope: params.scope,
    })),
    clear: assign({ dirs: () => new Set<string>() }),
    hold: assign({ held: ({ context }, p: { path: string }) => counted(context.held, p.path, 1) }),
    unhold: assign({ held: ({ context }, p: { path: string }) => counted(context.held, p.path, -1) }),
    unholdLater: raise(({ event }) => ({ type: 'UNHOLD' as const, path: (event as { path: string }).path }), {
      delay: QUIET_MS,
    }),
    /** The watch broke (a limit of the system, the folder gone): logged, and the watcher ends. */
    warn: (_, _params: { message: string }) => undefined,
    ended: sendParent(({ context }: { context: WatcherContext }) => ({
      type: 'WATCH_ENDED' as const,
      loc: context.loc,
    })),
  },
  guards: {
    /** A change no writer holds: a held one neither gathers nor delays a report. */
    free: ({ context, event }) => event.type === 'FS_CHANGE' && !isHeld(context.held, event),
  },
  delays: { quiet: QUIET_MS, maxWait: MAX_WAIT_MS },
}).createMachine({
  id: 'watcher',
  context: ({ input }) => ({ ...input, dirs: new Set(), held: new Map() }),
  initial: 'watching',
  states: {
    watching: {
      invoke: { id: 'fsEvents', src: 'fsEvents', input: ({ context }) => ({ lib: context.lib, loc: context.loc }) },
      on: {
        HOLD: { actions: { type: 'hold', params: ({ event }) => ({ path: event.path }) } },
        RELEASE: { actions: 'unholdLater' },
        UNHOLD: { actions: { type: 'unhold', params: ({ event }) => ({ path: event.path }) } },
        WATCH_FAILED: {
          target: 'failed',
          actions: [{ type: 'warn', params: ({ event }) => ({ message: event.message }) }, 'ended'],
        },
      },
      initial: 'quiet',
      states: {
        quiet: { on: { FS_CHANGE: { guard: 'free', target: 'gathering', actions: 'note' } } },
        gathering: {
          after: {
            maxWait: {
              target: 'quiet',
              actions: [{ type: 'report', params: ({ context }) => ({ scope: scopeOf(context.dirs) }) }, 'clear'],
            },
          },
          // Each change starts the quiet period again (settling is re-entered, not gathering, whose
          // maxWait bounds the gathering as a whole: a folder that never stops changing is still
          // reported every MAX_WAIT_MS).
          initial: 'settling',
          states: {
            settling: {
              on: { FS_CHANGE: { guard: 'free', target: 'settling', reenter: true, actions: 'note' } },
              after: {
                quiet: {
                  target: '#watcher.watching.quiet',
                  actions: [{ type: 'report', params: ({ context }) => ({ scope: scopeOf(context.dirs) }) }, 'clear'],
                },
              },
            },
          },
        },
      },
    },
    failed: { type: 'final' },
  },
});
