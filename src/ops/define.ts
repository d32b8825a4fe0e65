// Commands (preview -> commit -> verify) and queries, declared once and registered by name.
// The daemon, the tests and any embedding app reach them through Core only; an op sees the
// daemon through OpHost (host.ts), and a preview through its read-only half.
import type { z } from 'zod';
import { pack } from '../events/codec.js';
import { blake3, hex } from '../events/hash.js';
import type { Db, Library } from '../library/library.js';
import type { OpHost, PreviewHost, ReadonlyLibrary } from './host.js';

export interface PlanChange {
  /** create | update | delete | move | copy ... */
  op: string;
  /** What is touched: a library, a device, a path, a tag... */
  target: string;
  detail?: string;
  bytes?: number;
}

export interface Conflict {
  code: string;
  target: string;
  message: string;
}

/** What preview returns: everything that will change, computed on the current state. */
export interface PlanBody<D = unknown> {
  summary: string;
  changes: PlanChange[];
  warnings?: string[];
  conflicts?: Conflict[];
  /** A question to confirm before committing (deletions and the like). */
  confirm?: string;
  /** What commit needs; part of the fingerprint. */
  data?: D;
  /**
   * What the plan only tells (an estimate of the work): shown with the plan and in --json, never
   * part of the fingerprint, so a plan does not turn stale because an estimate moved.
   */
  notes?: string[];
  info?: Record<string, unknown>;
}

export interface Plan<D = unknown> extends PlanBody<D> {
  command: string;
  library: string | null;
  input: unknown;
  fingerprint: string;
}

/**
 * The plan's fingerprint: what the command will do on which library with which input. A confirmed
 * plan commits only if the fingerprint is still the same. Notes and info (estimates) are left out.
 */
export function fingerprintOf(command: string, library: string | null, input: unknown, body: PlanBody): string {
  const { notes: _notes, info: _info, ...rest } = body;
  return hex(blake3(pack([command, library, input, rest]))).slice(0, 32);
}

export interface Check {
  what: string;
  ok: boolean;
  detail?: string;
}

export interface CommandCtx {
  core: OpHost;
  /** The library the command runs on (the current one unless --library says otherwise). */
  lib: Library;
}

/** A preview computes its plan from reads: the compiler refuses an append or a write in it. */
export interface PreviewCtx {
  core: PreviewHost;
  lib: ReadonlyLibrary;
  /**
   * Only the plan is asked for (--dry-run): a person reads it before anything commits. Work that
   * only informs that person (an estimate) is done then, not on the way to a commit.
   */
  planOnly?: boolean;
}

export interface QueryCtx {
  core: PreviewHost;
  lib: Library;
  /** Read-only connection to the library database (a write fails at run time). */
  db: Db;
}

export interface CommandDef<I = any, D = any, R = any> {
  name: string;
  /** 'dataDir': about the data dir's libraries, not one library (runs while the current one is locked). */
  scope?: 'library' | 'dataDir';
  /** Edits the shared (Automerge) documents: the library opens them before the preview. */
  shared?: true;
  summary: string;
  input: z.ZodType<I>;
  preview(ctx: PreviewCtx, input: I): PlanBody<D> | Promise<PlanBody<D>>;
  commit(ctx: CommandCtx, plan: Plan<D> & { input: I }): R | Promise<R>;
  verify(ctx: CommandCtx, plan: Plan<D> & { input: I }, result: R): Check[] | Promise<Check[]>;
}

export interface QueryDef<I = any, R = any> {
  name: string;
  scope?: 'library' | 'dataDir';
  summary: string;
  input: z.ZodType<I>;
  run(ctx: QueryCtx, input: I): R | Promise<R>;
}

/** A command; its literal name keys the registry's typed map (CommandMap). */
export function defineCommand<const N extends string, I, D, R>(
  def: CommandDef<I, D, R> & { name: N },
): CommandDef<I, D, R> & { name: N } {
  return def;
}

/** A query; its literal name keys the registry's typed map (QueryMap). */
export function defineQuery<const N extends string, I, R>(
  def: QueryDef<I, R> & { name: N },
): QueryDef<I, R> & { name: N } {
  return def;
}

export function check(ok: boolean, what: string, detail?: string): Check {
  return detail === undefined ? { what, ok } : { what, ok, detail };
}
