// The single write path of a library database: units of work (savepoints) grouped into one
// SQLite transaction per event-loop turn (group commit), and the events appended inside them
// published only once that transaction has committed. A command's own appends are recorded in
// its scope, so it knows its events from its own write, never from a bus where a job's commit
// could be mistaken for them.
import { AsyncLocalStorage } from 'node:async_hooks';
import { reportWriteError } from '../disk.js';
import type { StoredEvent } from '../events/log.js';
import type { Db } from './database.js';

/** The events one command appends, whichever library: its own, never a job's that commits meanwhile. */
export interface OwnEvents {
  events: { lib: string; dev: string; seq: number }[];
  /** Set when the command's commit is over: what its timers and handles append later is not its own. */
  closed?: boolean;
}
const commandScope = new AsyncLocalStorage<OwnEvents>();

/** Runs fn with its appends (across awaits) recorded in `scope.events`, until it settles. */
export async function recordAppends<T>(scope: OwnEvents, fn: () => Promise<T>): Promise<T> {
  try {
    return await commandScope.run(scope, fn);
  } finally {
    scope.closed = true;
  }
}

/** Runs fn outside any command's scope (jobs a command queues are not the command). */
export function outsideCommands<T>(fn: () => T): T {
  return commandScope.exit(fn);
}

export interface WriterHooks {
  /** A group has just begun its transaction. */
  began(): void;
  /** The group is about to commit, still inside its transaction (deferred signatures are written). */
  beforeCommit(): void;
  /** The events of a group that has just committed, in append order. */
  committed(events: StoredEvent[]): void;
  /** A unit or a group rolled back: whatever caches the log's head reloads it. */
  rolledBack(): void;
}

/** Most units one transaction holds before it commits without waiting for the end of the turn. */
const GROUP_UNITS = 500;

export class GroupWriter {
  private pending: StoredEvent[] = [];
  private groupOpen = false;
  private groupUnits = 0;
  private groupTimer: NodeJS.Immediate | undefined;
  private unitDepth = 0;
  /** better-sqlite3 builds a wrapper per transaction() call: built once. */
  private readonly txn: (fn: () => unknown) => unknown;

  constructor(
    private readonly db: Db,
    private readonly path: string,
    private readonly lib: string,
    private readonly hooks: WriterHooks,
  ) {
    this.txn = db.transaction((fn: () => unknown) => fn());
  }

  /** Records an event appended inside the current unit: published when its group commits. */
  appended(ev: StoredEvent, own: boolean): void {
    const scope = own ? commandScope.getStore() : undefined;
    if (scope && !scope.closed) scope.events.push({ lib: this.lib, dev: ev.dev, seq: ev.seq });
    this.pending.push(ev);
  }

  /**
   * Runs fn as one atomic unit (a savepoint) and returns at once. Units that arrive together
   * share one SQLite transaction (group commit): it commits at the end of the event-loop turn,
   * after GROUP_UNITS units, or at flush(), and only then are their events published. Whoever
   * reads through another connection (queries, snapshots, verify) or makes the disk depend on a
   * unit calls flush() first.
   */
  write<T>(fn: () => T): T {
    if (this.unitDepth > 0 || (this.db.inTransaction && !this.groupOpen)) return this.txn(fn) as T;
    if (!this.groupOpen) {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.hooks.began();
      } catch (e) {
        this.db.exec('ROLLBACK');
        throw e;
      }
      this.groupOpen = true;
      this.groupTimer = setImmediate(() => this.flushFromTimer());
    }
    const mark = this.pending.length;
    let out: T;
    this.unitDepth++;
    try {
      out = this.txn(fn) as T;
    } catch (e) {
      // The savepoint rolled back this unit only; the group keeps the others. A full disk can
      // make SQLite roll back the whole transaction: then the group is gone with it.
      this.pending.length = mark;
      if (!this.db.inTransaction) this.dropGroup();
      this.hooks.rolledBack();
      throw e;
    } finally {
      this.unitDepth--;
    }
    if (++this.groupUnits >= GROUP_UNITS) this.flush();
    return out;
  }

  /**
   * Runs fn as a group of its own and commits it before returning (a received batch, a job's
   * batch): the open group commits first, then fn runs in one transaction with no savepoint. A
   * unit alone needs none (a failure rolls back the transaction, which holds only it), and a
   * savepoint around a large unit makes SQLite copy every page it touches into the savepoint's
   * journal and walk that journal at the end of every statement inside it.
   */
  commitAlone<T>(fn: () => T): T {
    // Inside a unit or another transaction: a savepoint of it, as write() makes.
    if (this.unitDepth > 0 || (this.db.inTransaction && !this.groupOpen)) return this.txn(fn) as T;
    this.flush();
    this.db.exec('BEGIN IMMEDIATE');
    let out: T;
    this.unitDepth++;
    try {
      this.hooks.began();
      this.groupOpen = true;
      out = fn();
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.dropGroup();
      this.hooks.rolledBack();
      throw e;
    } finally {
      this.unitDepth--;
    }
    this.flush();
    return out;
  }

  /** A group is open: what is appended now commits in flush(), after the beforeCommit hook. */
  get inGroup(): boolean {
    return this.groupOpen;
  }

  /** Runs fn in one plain transaction after committing the open group (a rebuild in place). */
  exclusive<T>(fn: () => T): T {
    this.flush();
    return this.txn(fn) as T;
  }

  /** Commits the open group (if any), publishes its events and returns them. */
  flush(): StoredEvent[] {
    if (!this.groupOpen) return [];
    clearImmediate(this.groupTimer);
    this.groupOpen = false;
    this.groupUnits = 0;
    try {
      this.hooks.beforeCommit();
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.pending = [];
      this.hooks.rolledBack();
      throw e;
    }
    const evs = this.pending;
    this.pending = [];
    this.hooks.committed(evs);
    return evs;
  }

  private dropGroup(): void {
    clearImmediate(this.groupTimer);
    this.groupOpen = false;
    this.groupUnits = 0;
    this.pending = [];
  }

  /** The end-of-turn commit: a full disk is reported (its units are lost, as in a crash), not thrown. */
  private flushFromTimer(): void {
    try {
      this.flush();
    } catch (e) {
      if (!reportWriteError(e, this.path, 'commit of a group of writes')) throw e;
    }
  }
}
