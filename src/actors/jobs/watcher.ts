// One watched location: file-system events are gathered into the set of folders that changed and
// reported to JobManager as one CHANGED once the location has been quiet for a moment (or after
// at most MAX_WAIT_MS of continuous changes), so a burst of 10,000 changes is one rescan, not
// 10,000. JobManager queues the rescan. The operating system's watch is the `fsEvents` actor.
import { assign, fromCallback, sendParent, setup } from 'xstate';

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
}

export type WatcherEvent = { type: 'FS_CHANGE'; dir: string } | { type: 'WATCH_FAILED'; message: string };

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
    /** The watch broke (a limit of the system, the folder gone): logged, and the watcher ends. */
    warn: (_, _params: { message: string }) => undefined,
    ended: sendParent(({ context }: { context: WatcherContext }) => ({
      type: 'WATCH_ENDED' as const,
      loc: context.loc,
    })),
  },
  delays: { quiet: QUIET_MS, maxWait: MAX_WAIT_MS },
}).createMachine({
  id: 'watcher',
  context: ({ input }) => ({ ...input, dirs: new Set() }),
  initial: 'watching',
  states: {
    watching: {
      invoke: { id: 'fsEvents', src: 'fsEvents', input: ({ context }) => ({ lib: context.lib, loc: context.loc }) },
      on: {
        WATCH_FAILED: {
          target: 'failed',
          actions: [{ type: 'warn', params: ({ event }) => ({ message: event.message }) }, 'ended'],
        },
      },
      initial: 'quiet',
      states: {
        quiet: { on: { FS_CHANGE: { target: 'gathering', actions: 'note' } } },
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
              on: { FS_CHANGE: { target: 'settling', reenter: true, actions: 'note' } },
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
