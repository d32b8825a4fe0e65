// What every CLI command shares: the global flags, the daemon connection, output and exit codes.
import { existsSync, readFileSync } from 'node:fs';
import { SdError } from '../errors.js';
import { connectRpc, type RpcClient, type RpcStream } from '../rpc/client.js';
import type { BusMessage } from '../bus.js';
import { checkDataDirPrivate, checkSocketPath, defaultDataDir, runtimePaths } from '../daemon/paths.js';
import { loadWidth, painter, useColor, type Style } from './format.js';
import { asciiOnly, displaySafe, terminalSafe } from './terminal.js';
import type { CommandInput, CommandName, CommandResult, QueryInput, QueryName, QueryResult } from '../ops/registry.js';
import type { CommandOutcome } from '../core.js';
import type { DaemonStatus } from '../daemon/handler.js';

/** How a command runs: a preview only, confirmed, or against the fingerprint of a plan the user saw. */
export interface CommandFlags {
  dryRun?: boolean;
  yes?: boolean;
  fingerprint?: string;
}

/** The daemon's RPC methods, with their arguments and answers (the answers' types come from the daemon). */
interface RpcMap {
  status: { params: { services?: boolean }; result: DaemonStatus };
  command: { params: { name: CommandName; input: unknown; library?: string } & CommandFlags; result: CommandOutcome };
  query: { params: { name: QueryName; input: unknown; library?: string }; result: unknown };
}

export interface GlobalFlags {
  dataDir?: string;
  library?: string;
  json?: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

export const EXIT = { ok: 0, error: 1, usage: 2, notRunning: 3 } as const;

export class CliContext {
  readonly dataDir: string;
  readonly style: Style;
  readonly paint: ReturnType<typeof painter>;
  private client: RpcClient | undefined;

  constructor(readonly flags: GlobalFlags) {
    this.dataDir = defaultDataDir(flags.dataDir);
    this.style = { color: useColor(!!flags.json) };
    this.paint = painter(this.style);
  }

  get json(): boolean {
    return !!this.flags.json;
  }

  async rpc(): Promise<RpcClient> {
    if (this.client) return this.client;
    const paths = runtimePaths(this.dataDir);
    checkSocketPath(paths.socket);
    // Before a byte goes to the socket (the token, a passphrase): the data dir must be ours alone.
    checkDataDirPrivate(this.dataDir);
    if (!existsSync(paths.socket) || !existsSync(paths.token)) throw notRunning(this.dataDir);
    const token = readFileSync(paths.token, 'utf8').trim();
    try {
      this.client = await connectRpc({ socketPath: paths.socket, token });
    } catch (e) {
      if (e instanceof SdError && e.code === 'E_DAEMON_NOT_RUNNING') throw notRunning(this.dataDir);
      throw e;
    }
    return this.client;
  }

  /**
   * One RPC call. Under --json the answer is exact; for human output every string in it is
   * escaped (names from disk and peers never reach the terminal raw).
   */
  async call<M extends keyof RpcMap>(
    method: M,
    params: RpcMap[M]['params'],
    exact = false,
  ): Promise<RpcMap[M]['result']> {
    const r = (await (await this.rpc()).call(method, params)) as RpcMap[M]['result'];
    if (this.json || exact) return r;
    // Tables measure non-ASCII text by display width; that library is loaded only when needed.
    if (!asciiOnly(r)) await loadWidth();
    return displaySafe(r);
  }

  /**
   * A query's answer, escaped for display; `exact` for answers the CLI compares, never prints. A
   * registered query's name types its input and answer from its definition (QueryMap).
   */
  async query<N extends QueryName>(
    name: N,
    input?: QueryInput<N>,
    exact = false,
    library = this.flags.library,
  ): Promise<QueryResult<N>> {
    return (await this.call('query', { name, input: input ?? {}, library }, exact)) as QueryResult<N>;
  }

  /** A command's outcome, its result typed from the command's definition (CommandMap). */
  async command<N extends CommandName>(
    name: N,
    input: CommandInput<N>,
    flags: CommandFlags = {},
  ): Promise<CommandOutcome<CommandResult<N>>> {
    const o = await this.call('command', { name, input, library: this.flags.library, ...flags });
    return o as CommandOutcome<CommandResult<N>>;
  }

  /** A stream's messages, escaped like call()'s answers unless --json. */
  safe<T>(m: T): T {
    return this.json ? m : displaySafe(m);
  }

  print(value: unknown, human: () => string): void {
    if (this.json) this.out(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
    else this.out(`${human()}\n`);
  }

  /** Every human line goes through here (or err()): a last escape of control characters. */
  out(text: string): void {
    process.stdout.write(this.json ? text : terminalSafe(text));
  }

  err(text: string): void {
    process.stderr.write(terminalSafe(text));
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}

/** The daemon's event stream (`sd events`, job progress): messages typed as its bus publishes them. */
export function streamEvents<K extends BusMessage['kind']>(
  rpc: RpcClient,
  args: { kinds?: readonly K[]; library?: string },
  onItem: (m: Extract<BusMessage, { kind: K }>) => void,
): RpcStream {
  return rpc.stream('events', args, (m) => onItem(m as Extract<BusMessage, { kind: K }>));
}

export function notRunning(dataDir: string): SdError {
  const flag = process.env.SD_DATA_DIR || dataDir === defaultDataDir() ? '' : ` --data-dir ${dataDir}`;
  return new SdError('E_DAEMON_NOT_RUNNING', `no daemon is running for ${dataDir}; start it with \`sd start${flag}\``);
}

export function jsonReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return v.toString();
  return v;
}
