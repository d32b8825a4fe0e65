// File transfers between devices (sd cp --device, sd send, sd inbox): registered through these lists.
import { acceptDrop, listInbox, rejectDrop } from './inbox.js';
import { setTransferLimit } from './limit.js';
import { pullEntries } from './pull.js';
import { sendEntries } from './send.js';

export const transferCommands = [pullEntries, sendEntries, acceptDrop, rejectDrop, setTransferLimit] as const;
export const transferQueries = [listInbox] as const;
