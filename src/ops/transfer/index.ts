// File transfers between devices (sd cp --device, sd send, sd inbox): registered through these lists.
import type { CommandDef, QueryDef } from '../define.js';
import { acceptDrop, listInbox, rejectDrop } from './inbox.js';
import { setTransferLimit } from './limit.js';
import { pullEntries } from './pull.js';
import { sendEntries } from './send.js';

export const transferCommands: CommandDef[] = [
  pullEntries,
  sendEntries,
  acceptDrop,
  rejectDrop,
  setTransferLimit,
] as CommandDef[];
export const transferQueries: QueryDef[] = [listInbox] as QueryDef[];
