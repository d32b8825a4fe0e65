// A whole walk on one of the pool's threads: the thread lists folders, applies the rules and
// lstats, and sends batches back (rels and stat columns) at most `ahead` ahead of the consumer,
// so the main thread only diffs. The listing and the planning were most of a rescan's main-thread
// time (readdir alone 125 of 500 ms on /usr/lib).
import type { LstatColumns } from './hash-wire.js';
import type { RootPin } from './beneath.js';
import { plan, type WalkError, type WalkRules } from './walk.js';
import { statPlanned } from './walk-stat.js';
import type { GitignoreAbove } from './gitignore.js';

/** What a remote walk is asked to do (structured-clone safe). */
export interface RemoteWalkRequest {
  root: string | Uint8Array;
  rules: WalkRules;
  startAfter?: string;
  batchSize?: number;
  exclude?: readonly string[];
  /** Leave regular files (by their folder's listing) UNSTATTED: their hashing reads their attributes. */
  unstattedFiles?: boolean;
  gitignoreAbove?: readonly GitignoreAbove[];
  /** A scope's walk: the location's root (WalkOptions.below). */
  below?: string | Uint8Array;
  /** WalkOptions.pin. */
  pin?: RootPin;
}

/** One batch of a remote walk: the planned entries' rels in walk order and their lstat. */
export interface WalkPart {
  rels: string[];
  errors: WalkError[];
  stats: LstatColumns;
}

/** Batches a remote walk may send before the consumer takes one. */
export const WALK_AHEAD = 4;

export interface WalkControl {
  credit: number;
  stopped: boolean;
  wake?: () => void;
}

/** Worker side: runs the walk, sending each part through `send`; throws what the planner throws. */
export async function runRemoteWalk(
  req: RemoteWalkRequest,
  control: WalkControl,
  send: (part: WalkPart) => void,
): Promise<void> {
  const root = typeof req.root === 'string' ? req.root : Buffer.from(req.root);
  const planner = plan(root, req.rules, {
    startAfter: req.startAfter,
    batchSize: req.batchSize,
    exclude: req.exclude,
    gitignoreAbove: req.gitignoreAbove,
    below: req.below === undefined || typeof req.below === 'string' ? req.below : Buffer.from(req.below),
    pin: req.pin,
  });
  try {
    // Bounded by the tree: each pass sends one planned batch.
    for (const b of planner) {
      if (control.stopped) return;
      const { items } = b;
      const unstatted = req.unstattedFiles ? (i: number) => items[i]!.file : undefined;
      send({
        rels: items.map((i) => i.rel),
        errors: b.errors,
        stats: statPlanned(b, unstatted),
      });
      control.credit--;
      while (control.credit <= 0 && !control.stopped) await new Promise<void>((r) => (control.wake = r));
    }
  } finally {
    planner.return(undefined);
  }
}
