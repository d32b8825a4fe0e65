// Every command and query, registered by name in one place. The daemon, the tests and any
// embedding app call the same registry through Core.
import { SdError } from '../errors.js';
import type { z } from 'zod';
import type { CommandDef, QueryDef } from './define.js';
import { createLibrary, deleteLibrary, renameLibrary, unlockLibrary, useLibrary } from './library/commands.js';
import { libraryInfo, listLibraries } from './library/queries.js';
import { listDevices, renameDevice } from './device/index.js';
import { listLog, replayCheckQuery, verifyLogQuery } from './log/queries.js';
import { addLocation, removeLocation, rescanLocation } from './location/commands.js';
import { listLocations } from './location/queries.js';
import { cancelJob, jobInfo, listJobs, pauseJob, resumeJob } from './job/index.js';
import { entryInfo, listDir } from './entry/queries.js';
import { applyTag, createTag, deleteTag, listTags, removeTag, renameTag } from './tag/index.js';
import {
  addToCollection,
  createCollection,
  deleteCollection,
  listCollections,
  removeFromCollection,
  renameCollection,
  showCollection,
} from './collection/index.js';
import { favAdd, favRemove, noteCommand } from './meta/index.js';
import { dupes, search, stats } from './search/queries.js';
import { entryCommands, entryQueries } from './entry/index.js';
import { transferCommands, transferQueries } from './transfer/index.js';
import { addPeer, listPeers, pairInvite, pairJoin, removePeer, syncStatus } from './sync/index.js';
import { revokeDevice, setDeviceRole } from './device/roster.js';

const commands = new Map<string, CommandDef>();
const queries = new Map<string, QueryDef>();

export function registerCommand(def: CommandDef): void {
  if (commands.has(def.name)) throw new Error(`command ${def.name} registered twice`);
  commands.set(def.name, def);
}

export function registerQuery(def: QueryDef): void {
  if (queries.has(def.name)) throw new Error(`query ${def.name} registered twice`);
  queries.set(def.name, def);
}

const commandList = [
  createLibrary,
  renameLibrary,
  useLibrary,
  deleteLibrary,
  unlockLibrary,
  renameDevice,
  addLocation,
  removeLocation,
  rescanLocation,
  pauseJob,
  resumeJob,
  cancelJob,
  createTag,
  renameTag,
  deleteTag,
  applyTag,
  removeTag,
  createCollection,
  addToCollection,
  removeFromCollection,
  renameCollection,
  deleteCollection,
  noteCommand,
  favAdd,
  favRemove,
  pairInvite,
  pairJoin,
  addPeer,
  removePeer,
  revokeDevice,
  setDeviceRole,
] as const;
for (const c of commandList) registerCommand(c as CommandDef);
const queryList = [
  listLibraries,
  libraryInfo,
  listDevices,
  listLog,
  verifyLogQuery,
  replayCheckQuery,
  listLocations,
  listJobs,
  jobInfo,
  listDir,
  entryInfo,
  listTags,
  listCollections,
  showCollection,
  search,
  dupes,
  stats,
  listPeers,
  syncStatus,
] as const;
for (const q of queryList) registerQuery(q as QueryDef);

for (const c of entryCommands) registerCommand(c as CommandDef);
for (const q of entryQueries) registerQuery(q as QueryDef);
for (const c of transferCommands) registerCommand(c as CommandDef);
for (const q of transferQueries) registerQuery(q as QueryDef);

export function findCommand(name: string): CommandDef {
  const c = commands.get(name);
  if (!c) throw new SdError('E_UNKNOWN_COMMAND', `no command named "${name}"`);
  return c;
}

export function findQuery(name: string): QueryDef {
  const q = queries.get(name);
  if (!q) throw new SdError('E_UNKNOWN_QUERY', `no query named "${name}"`);
  return q;
}

export function commandNames(): string[] {
  return [...commands.keys()].sort();
}

export function queryNames(): string[] {
  return [...queries.keys()].sort();
}

/** A definition's name when it is a literal (the registry's typed map leaves out plain strings). */
type Named<T> = T extends { name: infer N extends string } ? (string extends N ? never : N) : never;

/** Every query by name, with its input and result types: what typed callers (the CLI) use. */
type AllQueries = [...typeof queryList, ...typeof entryQueries, ...typeof transferQueries][number];
export type QueryMap = { [Q in AllQueries as Named<Q>]: Q };
export type QueryName = keyof QueryMap;
export type QueryInput<N extends QueryName> = z.input<QueryMap[N]['input']>;
export type QueryResult<N extends QueryName> = Awaited<ReturnType<QueryMap[N]['run']>>;

/** Every command by name, with its input and the result its commit returns. */
type AllCommands = [...typeof commandList, ...typeof entryCommands, ...typeof transferCommands][number];
export type CommandMap = { [C in AllCommands as Named<C>]: C };
export type CommandName = keyof CommandMap;
export type CommandInput<N extends CommandName> = z.input<CommandMap[N]['input']>;
export type CommandResult<N extends CommandName> = Awaited<ReturnType<CommandMap[N]['commit']>>;
