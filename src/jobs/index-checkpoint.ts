// What an index job is asked (its input) and where it stands (its checkpoint, committed with each
// batch of its events, so a job stopped anywhere resumes where its last batch ended).
import type { EntryTuple } from '../projections/entries.js';
import type { Gone } from './index-moves.js';
import type { WalkTotals } from './index-aggregate.js';
import type { PhaseTimes } from './phase-times.js';
import type { FolderId } from './location-folder.js';

export interface IndexInput {
  loc: string;
  /** Re-identify every file, not only new and changed ones. */
  full?: boolean;
  /** Folders (relative paths) to rescan; absent means the whole location. */
  scope?: string[];
  /** `--adopt`: the folder its plan showed at the location's path becomes the location's (location-folder.ts). */
  adopt?: FolderId;
}

export interface IndexCheckpoint {
  phase: 'walk' | 'identify' | 'aggregate';
  scopeIdx: number;
  cursor?: string;
  fresh: boolean;
  pendingNew: EntryTuple[];
  pendingGone: Gone[];
  walked: number;
  /** This device's log head when the job started: no event since means nothing changed. */
  startSeq?: number;
  /**
   * The folders this job walks, fixed when it first ran: a resume walks the same list (scopeIdx
   * and cursor point into it), whatever the disk or a .gitignore says by then.
   */
  scopes?: string[];
  /** Time and items per phase so far (walk, diff, identify, commit, aggregate). */
  times?: PhaseTimes;
  /**
   * What a whole-location walk saw (files, their bytes, folders), absent when it was scoped, hit an
   * error or resumed: an unchanged rescan's totals, with no scan of the projection to count them.
   */
  walkedTotals?: WalkTotals;
  /**
   * The location's folder as the job first ran (location-folder.ts FolderId; a job kept before
   * this build has device and inode only): a resume must find the same one (sameFolder, strict).
   */
  pin?: [dev: string, ino: string, btime?: string, boot?: string, fs?: string, mount?: string];
}
