// Maps RPC operations onto the Core. Arguments are validated here (zod) before they reach it.
import { z } from 'zod';
import type { Core } from '../core.js';
import { SdError } from '../errors.js';
import type { BusMessage } from '../bus.js';
import type { Settings } from './settings.js';

const CommandArgs = z.object({
  name: z.string().min(1),
  input: z.unknown().optional(),
  library: z.string().optional(),
  dryRun: z.boolean().optional(),
  fingerprint: z.string().optional(),
  yes: z.boolean().optional(),
});
const QueryArgs = z.object({ name: z.string().min(1), input: z.unknown().optional(), library: z.string().optional() });
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

export function createHandler(core: Core, info: DaemonInfo) {
  // A Map: only these entries are operations (an object literal would also answer to
  // `__proto__`, `toString` and the rest of Object.prototype).
  const calls = new Map<string, (args: unknown) => Promise<unknown> | unknown>(
    Object.entries({
      status: () => ({
        running: true,
        pid: info.pid,
        startedAt: info.startedAt,
        uptimeMs: Date.now() - info.startedAt,
        dataDir: core.dataDir,
        device: { id: core.device.id, name: core.device.name },
        currentLibrary: core.libraries.currentId,
        libraries: core.libraries.list().map((l) => ({ id: l.id, name: core.libraries.nameOf(l.id) })),
        services: core.services?.states() ?? {},
        p2pPort: info.p2pPort(),
        settings: info.settings?.() ?? null,
        node: process.version,
        disk: core.disk.condition,
      }),
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
