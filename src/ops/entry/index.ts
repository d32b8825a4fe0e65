// File operations (mv, cp, rename, mkdir, rm, trash): registered through these lists.
import { makeDir } from './mkdir.js';
import { removeEntries } from './remove.js';
import { copyEntries, moveEntries, renameEntry } from './transfer.js';
import { emptyTrash, listTrash, restoreTrash } from './trash.js';

export { resolvePendingIntents } from './intents.js';

export const entryCommands = [
  moveEntries,
  copyEntries,
  renameEntry,
  makeDir,
  removeEntries,
  restoreTrash,
  emptyTrash,
] as const;
export const entryQueries = [listTrash] as const;
