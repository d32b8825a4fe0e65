// The CLI's side of the RPC socket: calls and streams multiplexed by request id.
import net from 'node:net';
import { dirname } from 'node:path';
import { SdError } from '../errors.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, encodeFrame } from './frame.js';
import type { ClientMessage, ErrorValue } from './protocol.js';
import { CONNECTION_ID, parseServerMessage } from './reply.js';
import { checkSocketPath } from './socket-path.js';
import { codeOf } from '../error-codes.js';

export interface RpcClientOptions {
  socketPath: string;
  token: string;
  /** How long to wait for the daemon to accept the connection (default 5 s). */
  timeoutMs?: number;
  maxFrame?: number;
}

export interface RpcStream {
  /** Resolves when the server ends the stream (also after cancel); rejects on an error reply. */
  done: Promise<void>;
  cancel(): void;
}

export interface RpcClient {
  call(op: string, args?: unknown): Promise<unknown>;
  stream(op: string, args: unknown, onItem: (item: unknown) => void): RpcStream;
  close(): Promise<void>;
}

/** Refusals after which the server hangs up, so every pending request shares the reason. */
const FATAL = new Set(['E_BAD_TOKEN', 'E_BAD_REQUEST']);

interface Pending {
  resolve(value: unknown): void;
  reject(err: SdError): void;
  onItem?: (item: unknown) => void;
}

export async function connectRpc(opts: RpcClientOptions): Promise<RpcClient> {
  checkSocketPath(opts.socketPath);
  const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  const sock = await open(opts.socketPath, opts.timeoutMs ?? 5000);
  const decoder = new FrameDecoder({ maxFrame });
  const pending = new Map<number, Pending>();
  let nextId = CONNECTION_ID + 1;
  let lost: SdError | undefined;
  // A connection-level refusal (bad frame, bad token) explains the drop that follows it.
  let refusal: SdError | undefined;

  const fail = (err: SdError): void => {
    lost ??= err;
    for (const p of pending.values()) p.reject(lost);
    pending.clear();
    sock.destroy();
  };

  const onMessage = (raw: unknown): void => {
    const m = parseServerMessage(raw);
    if (!m) return fail(new SdError('E_BAD_REPLY', 'the daemon sent a reply this client does not understand'));
    const p = pending.get(m.id);
    if ('ok' in m && !m.ok) {
      const err = fromErrorValue(m.error);
      if (m.id === CONNECTION_ID || !p || FATAL.has(err.code)) refusal ??= err;
      if (p) settle(m.id)?.reject(err);
      return;
    }
    if (!p) return; // a late reply to a cancelled stream
    if ('ok' in m) settle(m.id)?.resolve(m.result);
    else if ('end' in m) settle(m.id)?.resolve(undefined);
    else if (p.onItem) {
      try {
        p.onItem(m.item);
      } catch (e) {
        settle(m.id)?.reject(
          e instanceof SdError ? e : new SdError('E_STREAM_CONSUMER', e instanceof Error ? e.message : String(e)),
        );
        trySend({ id: m.id, token: opts.token, cancel: true });
      }
    }
  };

  const settle = (id: number): Pending | undefined => {
    const p = pending.get(id);
    pending.delete(id);
    return p;
  };

  sock.on('data', (chunk: Buffer) => {
    try {
      for (const msg of decoder.feed(chunk)) onMessage(msg);
    } catch (e) {
      fail(e instanceof SdError ? e : new SdError('E_BAD_REPLY', String(e)));
    }
  });
  sock.on('error', () => {}); // the close that follows reports it
  sock.on('close', () =>
    fail(refusal ?? new SdError('E_CONNECTION_LOST', `the connection to the daemon at ${opts.socketPath} was lost`)),
  );

  const trySend = (msg: ClientMessage): SdError | undefined => {
    if (lost) return lost;
    try {
      sock.write(encodeFrame(msg, maxFrame));
      return undefined;
    } catch (e) {
      return e instanceof SdError ? e : new SdError('E_INTERNAL', String(e));
    }
  };

  const request = (
    op: string,
    args: unknown,
    onItem?: (item: unknown) => void,
  ): { id: number; result: Promise<unknown> } => {
    const id = nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      const err = trySend(
        onItem ? { id, token: opts.token, op, args, stream: true } : { id, token: opts.token, op, args },
      );
      if (err) reject(err);
      else pending.set(id, { resolve, reject, onItem });
    });
    return { id, result };
  };

  return {
    call: (op, args) => request(op, args).result,
    stream: (op, args, onItem) => {
      const { id, result } = request(op, args, onItem);
      return {
        done: result.then(() => undefined),
        cancel: () => {
          const p = pending.get(id);
          if (!p) return;
          p.onItem = undefined; // items already in flight are dropped: cancel means stop now
          trySend({ id, token: opts.token, cancel: true });
        },
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (sock.destroyed) return resolve();
        sock.once('close', () => resolve());
        fail(new SdError('E_CONNECTION_LOST', 'the RPC client was closed'));
      }),
  };
}

function fromErrorValue(e: ErrorValue): SdError {
  return new SdError(codeOf(e.code, 'E_INTERNAL'), e.message, e.details);
}

function open(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const sock = net.connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new SdError('E_TIMEOUT', `the daemon at ${path} did not accept a connection within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        reject(
          new SdError('E_DAEMON_NOT_RUNNING', `no daemon is running for ${dirname(path)}; start one with \`sd start\``),
        );
      } else {
        reject(
          new SdError('E_CONNECT_FAILED', `cannot connect to the daemon at ${path}: ${e.message}`, { errno: e.code }),
        );
      }
    });
  });
}
