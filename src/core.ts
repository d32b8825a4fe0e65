// Core: opens a data dir and its libraries and runs commands and queries by name.
// The embeddable entry point: the daemon, the tests and any app use the same Core.
import { join } from 'node:path';
import { EventBus } from './bus.js';
import { SdError } from './errors.js';
import { initHashing } from './events/hash.js';
import type { StoredEvent } from './events/log.js';
import { ensurePrivateDir, openDataDirs, registerDataDir } from './fsutil.js';
import { DiskMonitor } from './disk.js';
import { closeOpsPool } from './ops/entry/hashing.js';
import { loadOrCreateIdentity, type DeviceIdentity } from './identity.js';
import type { Library } from './library/library.js';
import { recordAppends, type OwnEvents } from './store/writer.js';
import { LibraryManager } from './library/manager.js';
import { fingerprintOf, type Check, type CommandCtx, type Plan } from './ops/define.js';
import { findCommand, findQuery } from './ops/registry.js';
import { summarize } from './ops/log/summary.js';
import { nameBook } from './ops/log/names.js';
import type { VerifiedBody } from './projections/audit.js';
import { startServices, type Services } from './actors/services.js';
import { Jobs, STOP_GRACE_MS } from './jobs/manager.js';
import { settlesWithin } from './jobs/hash-pool.js';
import { runIndexJob } from './jobs/indexer.js';
import { Network, type NetworkOptions } from './sync/network.js';
import { resolvePendingIntents, type ResolvedIntent } from './ops/entry/intents.js';
import { Transfers } from './transfer/service.js';
import { transferRunner } from './transfer/job.js';

export interface CommandOptions {
  library?: string;
  dryRun?: boolean;
  /** The fingerprint of a plan the user saw: a different current plan is refused as stale. */
  fingerprint?: string;
  yes?: boolean;
}

export interface CommandOutcome<R = unknown> {
  plan: Plan;
  committed: boolean;
  result?: R;
  verify?: { ok: boolean; checks: Check[] };
}

export interface CoreOptions {
  /**
   * Run jobs and watchers (indexing, reconciling rescans). Default true. The actor system itself
   * (JobManager, SyncService, NetworkService) always runs: peers need it.
   */
  services?: boolean;
  network?: NetworkOptions;
}

export class Core {
  readonly bus = new EventBus();
  readonly libraries: LibraryManager;
  readonly startedAt = Date.now();
  services: Services | undefined;
  /** The JobManager actor as commands meet it (its jobs run only when the Core runs services). */
  readonly jobs: Jobs;
  /** The network, once `startPeers` made it listen. */
  peers: Network | undefined;
  /** File transfers between devices (sd cp --device, sd send, the inbox); with the services. */
  transfers: Transfers | undefined;
  private readonly network: Network;
  /** File operations a crash interrupted, completed or rolled back at open. */
  readonly recovered: ResolvedIntent[] = [];
  /** The daemon's logger (pino), when there is one. */
  log: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private unregisterDataDir = (): void => undefined;
  /** The state of the disk holding the data dir (full or not), shown by `sd status`. */
  disk!: DiskMonitor;

  /** In the command queue, so it never meets a command's own pending intent. */
  private resolveAfterSpace(): Promise<void> {
    const run = this.queue.then(async () => {
      for (const lib of this.libraries.list())
        try {
          this.recovered.push(...(await resolvePendingIntents(this, lib)));
        } catch (e) {
          this.disk.report(e, 'resolving file operations');
        }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private constructor(
    readonly dataDir: string,
    readonly device: DeviceIdentity,
    opts: CoreOptions,
  ) {
    this.libraries = new LibraryManager(dataDir, device);
    this.network = new Network(this, opts.network);
    this.jobs = new Jobs({
      bus: this.bus,
      libraries: () => this.libraries.list(),
      runners: { index: runIndexJob, transfer: transferRunner(this) },
      diskFull: (e, where) => this.disk.report(e, where),
      warn: (o, msg) => this.log?.warn(o, msg),
    });
  }

  static async open(dataDir: string, opts: CoreOptions = {}): Promise<Core> {
    await initHashing();
    ensurePrivateDir(dataDir);
    const core = new Core(dataDir, loadOrCreateIdentity(dataDir), opts);
    core.unregisterDataDir = registerDataDir(dataDir);
    core.disk = new DiskMonitor(dataDir);
    core.libraries.onOpen((lib) => lib.onEvent((ev) => core.publishEvent(lib, ev)));
    // The log feeds the actors: what a library commits reaches them once committed.
    core.libraries.onOpen((lib) => lib.onCommit((evs) => core.services?.committedGroup(lib.id, evs)));
    await core.libraries.load();
    // File operations a crash interrupted are completed or rolled back before anything else
    // (a rescan) looks at the disk.
    for (const lib of core.libraries.list()) core.recovered.push(...(await resolvePendingIntents(core, lib)));
    core.services = await startServices(core, core.network);
    core.jobs.attach(core.services.jobs);
    if (opts.services !== false) {
      core.transfers = new Transfers(core, core.network);
      // Space is back: paused jobs go on, and file operations a full disk left unfinished are resolved.
      core.disk.onSpace(() => {
        core.jobs.space();
        void core.resolveAfterSpace();
      });
      // Each library restores its jobs, reconciles its locations with a rescan and watches them.
      core.jobs.start(core.device.id, (fn) => core.libraries.onOpen(fn));
    }
    return core;
  }

  get logDir(): string {
    return join(this.dataDir, 'logs');
  }

  private publishEvent(lib: Library, ev: StoredEvent): void {
    // The summary reads the names in the log: only worth it for a listener (`sd events`).
    if (!this.bus.listened) return;
    this.bus.publish({
      kind: 'event',
      lib: lib.id,
      dev: ev.dev,
      seq: ev.seq,
      type: ev.type,
      at: ev.hlc.ms,
      summary: summarize(ev.type, ev.body, {
        // The writer connection: lib.ro would flush the open group commit from inside it.
        names: nameBook(lib.db, this.device.id),
        pos: { ms: ev.hlc.ms, c: ev.hlc.c, dev: ev.dev },
        dev: ev.dev,
      }),
    });
  }

  /** Runs a command through preview -> commit -> verify. Commands run one at a time. */
  command<R = unknown>(name: string, input: unknown, opts: CommandOptions = {}): Promise<CommandOutcome<R>> {
    const run = this.queue.then(() => this.runCommand<R>(name, input, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runCommand<R>(name: string, rawInput: unknown, opts: CommandOptions): Promise<CommandOutcome<R>> {
    if (this.closed) throw new SdError('E_SHUTTING_DOWN', 'the daemon is shutting down');
    const def = findCommand(name);
    const parsed = def.input.safeParse(rawInput ?? {});
    if (!parsed.success) throw badInput(name, parsed.error);
    const input = parsed.data;
    const lib = this.libraryFor(def.scope, opts.library);
    if (def.shared && lib) await lib.ensureShared(this.device.id);
    const ctx: CommandCtx = { core: this, lib };
    const body = await def.preview(opts.dryRun ? { ...ctx, planOnly: true } : ctx, input);
    const shown = redact(input);
    const plan: Plan = {
      ...body,
      command: name,
      library: lib?.id ?? null,
      input,
      fingerprint: fingerprintOf(name, lib?.id ?? null, shown, body),
    };
    if (opts.dryRun) return { plan: { ...plan, input: shown }, committed: false };
    if (opts.fingerprint !== undefined && opts.fingerprint !== plan.fingerprint) {
      throw new SdError(
        'E_STALE_PLAN',
        'the state changed since the preview was made; preview again and confirm the new plan',
      );
    }
    if (plan.conflicts?.length) {
      throw new SdError('E_CONFLICT', plan.conflicts.map((c) => c.message).join('; '), { conflicts: plan.conflicts });
    }
    if (plan.confirm && !opts.yes) {
      throw new SdError('E_CONFIRMATION_REQUIRED', `${plan.confirm} Pass --yes to confirm.`, {
        plan: { ...plan, input: shown },
      });
    }
    // Earlier units still in an open group are committed and published first: the events
    // collected below are this command's own.
    for (const l of this.libraries.list()) l.flush();
    // The command's own events, from its own appends (an index job committing meanwhile is not it).
    const own: OwnEvents = { events: [] };
    const result = await recordAppends(own, async () => (await def.commit(ctx, plan)) as R);
    // The command's events are durable (and published) before verify looks and we answer.
    for (const l of this.libraries.list()) l.flush();
    const appended = own.events;
    const checks = await def.verify(ctx, plan, result);
    const ok = checks.every((c) => c.ok);
    const first = appended[0];
    if (first && this.libraries.list().some((l) => l.id === first.lib)) {
      const target = this.libraries.list().find((l) => l.id === first.lib);
      const refs = appended.filter((a) => a.lib === first.lib).map((a) => [a.dev, a.seq] as [string, number]);
      const verified: VerifiedBody = { command: name, refs: refs.slice(0, 1), ok, checks };
      target?.write(() => target.append('command.verified', verified));
      target?.flush();
    }
    return { plan: { ...plan, input: shown }, committed: true, result, verify: { ok, checks } };
  }

  async query<R = unknown>(name: string, input: unknown, opts: { library?: string } = {}): Promise<R> {
    const def = findQuery(name);
    const parsed = def.input.safeParse(input ?? {});
    if (!parsed.success) throw badInput(name, parsed.error);
    const lib = this.libraryFor(def.scope, opts.library);
    return (await def.run({ core: this, lib, db: lib?.ro }, parsed.data)) as R;
  }

  /** Starts listening for peer links and dialing known peers (`sd start --p2p-port N`). */
  async startPeers(host: string, port: number, opts: Parameters<Network['start']>[2] = {}): Promise<Network> {
    await this.network.start(host, port, opts);
    this.peers = this.network;
    return this.network;
  }

  /** The library an operation runs on; data-dir operations still run when it is locked. */
  private libraryFor(scope: 'library' | 'dataDir' | undefined, ref: string | undefined): Library {
    if (scope !== 'dataDir') return this.libraries.resolve(ref);
    try {
      return this.libraries.resolve(ref);
    } catch (e) {
      // Such operations never touch ctx.lib.
      if (e instanceof SdError && e.code === 'E_LIBRARY_LOCKED') return undefined as unknown as Library;
      throw e;
    }
  }

  /** Stops the services, lets the running command finish, closes every database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.peers?.stop();
    await this.jobs.stop();
    await this.services?.stop();
    // A command waiting on a hashing thread stuck in the kernel is given up on after the grace.
    if (!(await settlesWithin(this.queue, STOP_GRACE_MS))) {
      await closeOpsPool();
      await settlesWithin(this.queue, 1000);
    }
    await this.libraries.closeAll();
    this.unregisterDataDir();
    this.disk.stop();
    // The hashing threads of file operations are shared by the Cores of this process.
    if (openDataDirs().length === 0) await closeOpsPool();
  }
}

/** Secrets in an input never leave the daemon (outcomes, plans, fingerprints). */
function redact(input: unknown): unknown {
  if (!input || typeof input !== 'object' || !('passphrase' in input)) return input;
  return { ...(input as object), passphrase: '(redacted)' };
}

function badInput(op: string, error: { issues: { path: PropertyKey[]; message: string }[] }): SdError {
  const msg = error.issues
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
  return new SdError('E_BAD_INPUT', `${op}: ${msg}`, {
    issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
}
