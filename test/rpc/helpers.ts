// Shared fixtures for the RPC tests: temp data dirs, a test handler, servers and raw sockets.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { SdError } from '../../src/errors.js';
import { connectRpc, type RpcClient } from '../../src/rpc/client.js';
import { FrameDecoder } from '../../src/rpc/frame.js';
import type { RpcHandler } from '../../src/rpc/protocol.js';
import { startRpcServer, type RpcServer } from '../../src/rpc/server.js';
import { ensureToken } from '../../src/rpc/token.js';

export async function tempDir(t: ExecutionContext, prefix = 'sd-rpc-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Ops: echo, delay {ms, value}, fail (SdError), boom (plain Error); streams: count {n}, ticker. */
export function testHandler(seen: { aborted: number } = { aborted: 0 }): RpcHandler {
  const ops = new Set(['echo', 'delay', 'fail', 'boom', 'count', 'ticker']);
  return {
    has: (op) => ops.has(op),
    call: async (op, args) => {
      if (op === 'echo') return args;
      if (op === 'delay') {
        const a = args as { ms: number; value: unknown };
        await sleep(a.ms);
        return a.value;
      }
      if (op === 'fail') throw new SdError('E_INTERNAL', 'asked to fail', { why: 'test' });
      if (op === 'boom') throw new Error('kaboom');
      throw new SdError('E_UNKNOWN_OP', `not callable: ${op}`);
    },
    stream: async (op, args, emit, signal) => {
      if (op !== 'count' && op !== 'ticker') throw new SdError('E_UNKNOWN_OP', `not a stream: ${op}`);
      signal.addEventListener('abort', () => seen.aborted++, { once: true });
      if (op === 'count') {
        for (let i = 0; i < (args as { n: number }).n; i++) emit(i);
        return;
      }
      // ticker: one item every 5 ms until cancelled, at most 2000 so a broken cancel cannot spin forever
      for (let i = 0; i < 2000 && !signal.aborted; i++) {
        emit(i);
        await sleep(5, signal);
      }
    },
  };
}

export interface Served {
  dir: string;
  socketPath: string;
  token: string;
  server: RpcServer;
  seen: { aborted: number };
  connect(token?: string): Promise<RpcClient>;
}

export async function serve(t: ExecutionContext, maxFrame?: number): Promise<Served> {
  const dir = await tempDir(t);
  const socketPath = join(dir, 'sd.sock');
  const token = ensureToken(dir);
  const seen = { aborted: 0 };
  const server = await startRpcServer({ socketPath, token, handler: testHandler(seen), maxFrame });
  t.teardown(() => server.close());
  const connect = async (tok = token): Promise<RpcClient> => {
    const c = await connectRpc({ socketPath, token: tok, timeoutMs: 2000 });
    t.teardown(() => c.close());
    return c;
  };
  return { dir, socketPath, token, server, seen, connect };
}

export interface RawSocket {
  sock: net.Socket;
  replies: unknown[];
  /** Resolves when the server closes the connection; rejects after ms if it never does. */
  closed(ms?: number): Promise<void>;
}

/** A socket that speaks bytes, not the client library, for sending what a real client never would. */
export function rawConnect(t: ExecutionContext, socketPath: string): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const replies: unknown[] = [];
    const decoder = new FrameDecoder();
    let isClosed = false;
    sock.on('data', (chunk: Buffer) => {
      for (const v of decoder.feed(chunk)) replies.push(v);
    });
    sock.on('error', () => {}); // EPIPE/ECONNRESET are expected once the server hangs up
    sock.on('close', () => (isClosed = true));
    t.teardown(() => void sock.destroy());
    const closed = (ms = 3000): Promise<void> =>
      new Promise((res, rej) => {
        if (isClosed) return res();
        const timer = setTimeout(() => rej(new Error(`the server did not close the connection within ${ms} ms`)), ms);
        sock.once('close', () => {
          clearTimeout(timer);
          res();
        });
      });
    sock.once('connect', () => resolve({ sock, replies, closed }));
    sock.once('error', reject);
  });
}

/** Polls a condition a bounded number of times (the server notices closes asynchronously). */
export async function eventually(cond: () => boolean, ms = 2000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

export function codeOf(e: unknown): string | undefined {
  return e instanceof SdError ? e.code : undefined;
}
