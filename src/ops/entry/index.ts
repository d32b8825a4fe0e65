// File operations (mv, cp, rename, mkdir, rm, trash): registered through these lists.
import type { CommandDef, QueryDef } from '../define.js';

export const entryCommands: CommandDef[] = [];
export const entryQueries: QueryDef[] = [];
