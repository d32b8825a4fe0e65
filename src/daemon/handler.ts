// Maps RPC operations onto the Core. Arguments are validated here (zod) before they reach it.
import { z } from 'zod';
import type { Core } from '../core.js';
import { SdError } from '../errors.js';
import type { BusMessage } from '../bus.js';
import type { MemoryRelease } from './memory.js';
import { shownValue, type SettingKey, type Settings } from './settings.js';

const CommandArgs = z.object({
  name: z.string().min(1),
  input: z.unknown().optional(),
  library: z.string().optional(),
  dryRun: z.boolean().optional(),
  fingerprint: z.string().optional(),
  yes: z.boolean().optional(),
});
const QueryArgs = z.object({ name: z.string().min(1), input: z.unknown().optional(), library: z.string().optional() });
const StatusArgs = z.object({ services: z.boolean().optional() }).optional();
const EventsArgs = z
  .object({ kinds: z.array(z.enum(['event', 'job', 'service'])).optional(), library: z.string().optional() })
  .optional();

export interface DaemonInfo {
  pid: number;
  startedAt: number;
  p2pPort: () => number | null;
  /** Each setting's value and where it came from (flag, environment, config, default). */
  settings?: () => Settings;
  requestStop: () => void;
  /** The last time the daemon gave memory back after a busy spell (src/daemon/memory.ts). */
  memoryRelease?: () => MemoryRelease | undefined;
}

/** Secrets stay in the daemon: `sd status` shows *** for them. */
function shownSettings(s: Settings | undefined): Settings | null {
  if (!s) return null;
  const out = { ...s };
  for (const k of Object.keys(out) as SettingKey[]) out[k] = { ...out[k], value: shownValue(k, out[k].value) };
  return out;
}

function parse<T>(schema: z.ZodType<T>, op: string, args: unknown): T {
  const r = schema.safeParse(args);
  if (!r.success)
    throw new SdError(
      'E_BAD_INPUT',
      `${op}: ${r.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/**
 * The daemon's memory in bytes: resident (what the system counts), the JS heap, and buffers outside
 * it (Node's `external` already holds `arrayBuffers`: adding them counted every buffer twice).
 */
function memoryNow(released: MemoryRelease | undefined) {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, ...(released ? { released } : {}) };
}

/** `sd status`: what the daemon runs, for whom, and how it is doing. */
export function daemonStatus(core: Core, info: DaemonInfo, args: unknown) {
  return {
    running: true as const,
    pid: info.pid,
    startedAt: info.startedAt,
    uptimeMs: Date.now() - info.startedAt,
    dataDir: core.dataDir,
    device: { id: core.device.id, name: core.device.name },
    currentLibrary: core.libraries.currentId,
    libraries: core.libraries.list().map((l) => ({ id: l.id, name: core.libraries.nameOf(l.id) })),
    services: core.services?.states() ?? {},
    jobs: core.jobs.counts(),
    // Every actor with its state and since when (`sd status --services`).
    ...(parse(StatusArgs, 'status', args)?.services ? { tree: core.services?.tree() ?? [], now: Date.now() } : {}),
    p2pPort: info.p2pPort(),
    settings: shownSettings(info.settings?.()),
    node: process.version,
    disk: core.disk.condition,
    memory: memoryNow(info.memoryRelease?.()),
  };
}
export type DaemonStatus = ReturnType<typeof daemonStatus>;

export function createHandler(core: Core, info: DaemonInfo) {
  // A Map: only these entries are operations (an object literal would also answer to
  // `__proto__`, `toString` and the rest of Object.prototype).
  const calls = new Map<string, (args: unknown) => Promise<unknown> | unknown>(
    Object.entries({
      status: (args) => daemonStatus(core, info, args),
      command: (args) => {
        const a = parse(CommandArgs, 'command', args);
        return core.command(a.name, a.input, {
          library: a.library,
          dryRun: a.dryRun,
          fingerprint: a.fingerprint,
          yes: a.yes,
        });
      },
      query: (args) => {
        const a = parse(QueryArgs, 'query', args);
        return core.query(a.name, a.input, { library: a.library });
      },
      stop: () => {
        // Reply first, then shut down.
        setImmediate(info.requestStop);
        return { stopping: true, pid: info.pid };
      },
    } satisfies Record<string, (args: unknown) => Promise<unknown> | unknown>),
  );
  return {
    has: (op: string) => calls.has(op) || op === 'events',
    call: async (op: string, args: unknown) => {
      const fn = calls.get(op);
      if (!fn) throw new SdError('E_UNKNOWN_OP', `unknown operation "${op}"`);
      return fn(args);
    },
    stream: (op: string, args: unknown, emit: (item: unknown) => void, signal: AbortSignal): Promise<void> => {
      if (op !== 'events') throw new SdError('E_UNKNOWN_OP', `unknown stream "${op}"`);
      const a = parse(EventsArgs, 'events', args) ?? {};
      const lib = a.library ? core.libraries.resolve(a.library).id : undefined;
      return new Promise<void>((resolve) => {
        const stop = core.bus.subscribe((m: BusMessage) => {
          if (a.kinds && !a.kinds.includes(m.kind)) return;
          if (lib && 'lib' in m && m.lib !== lib) return;
          emit(m);
        });
        signal.addEventListener(
          'abort',
          () => {
            stop();
            resolve();
          },
          { once: true },
        );
      });
    },
  };
}
