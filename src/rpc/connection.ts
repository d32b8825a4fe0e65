// One client connection on the server side: authenticate every frame, dispatch, reply by id.
import type { Socket } from 'node:net';
import { SdError, toErrorValue } from '../errors.js';
import { FrameDecoder, encodeFrame } from './frame.js';
import { CONNECTION_ID, ClientMessage, type RpcHandler, type RpcRequest, type ServerMessage } from './protocol.js';
import { tokensEqual } from './token.js';

export type RpcLog = (msg: string, extra?: unknown) => void;

export interface ConnectionContext {
  token: string;
  handler: RpcHandler;
  maxFrame: number;
  log: RpcLog;
}

/** How long a refused client gets to read our last reply before its socket is destroyed. */
const LINGER_MS = 1000;

export interface ServedConnection {
  /** Ends the connection (flushing replies already written) and stops its streams. */
  close(): void;
}

export function serveConnection(sock: Socket, ctx: ConnectionContext): ServedConnection {
  const decoder = new FrameDecoder({ maxFrame: ctx.maxFrame });
  const inflight = new Set<number>();
  const streams = new Map<number, AbortController>();
  // A client that stops reading must not make us buffer replies without bound.
  const maxQueued = ctx.maxFrame * 4;
  let closing = false;
  let linger: NodeJS.Timeout | undefined;

  const send = (msg: ServerMessage): void => {
    if (sock.destroyed || !sock.writable) return;
    let frame: Buffer;
    try {
      frame = encodeFrame(msg, ctx.maxFrame);
    } catch (e) {
      frame = encodeFrame({ id: msg.id, ok: false, error: toErrorValue(e) } satisfies ServerMessage, ctx.maxFrame);
    }
    sock.write(frame);
    if (sock.writableLength > maxQueued) {
      ctx.log('rpc: dropping a client that does not read its replies', { queued: sock.writableLength });
      sock.destroy();
    }
  };

  const hangUp = (): void => {
    if (closing) return;
    closing = true; // later data is read and dropped, so the client's FIN is still seen
    for (const ac of streams.values()) ac.abort();
    streams.clear();
    sock.end();
    linger = setTimeout(() => sock.destroy(), LINGER_MS);
    linger.unref();
  };

  // A refusal ends the connection: after a bad token or an unparseable frame nothing else it says can be trusted.
  const refuse = (id: number, err: SdError): void => {
    ctx.log(`rpc: refused a client: ${err.code}`, { message: err.message });
    send({ id, ok: false, error: toErrorValue(err) });
    hangUp();
  };

  const onMessage = (raw: unknown): void => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return refuse(CONNECTION_ID, new SdError('E_BAD_REQUEST', 'a request must be a msgpack map'));
    }
    const rec = raw as Record<string, unknown>;
    const id = typeof rec.id === 'number' && Number.isSafeInteger(rec.id) && rec.id >= 0 ? rec.id : CONNECTION_ID;
    if (typeof rec.token !== 'string' || !tokensEqual(rec.token, ctx.token)) {
      return refuse(
        id,
        new SdError('E_BAD_TOKEN', 'the RPC token is missing or wrong; use the token in the data dir (rpc.token)'),
      );
    }
    const parsed = ClientMessage.safeParse(raw);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
      return refuse(id, new SdError('E_BAD_REQUEST', `malformed request: ${why}`));
    }
    const m = parsed.data;
    if ('cancel' in m) return cancelStream(m.id);
    if (m.id === CONNECTION_ID || inflight.has(m.id)) {
      return send({
        id: m.id,
        ok: false,
        error: { code: 'E_BAD_REQUEST', message: `request id ${m.id} is reserved or already in flight` },
      });
    }
    const known = ctx.handler.has(m.op) && (!m.stream || typeof ctx.handler.stream === 'function');
    if (!known) {
      return send({
        id: m.id,
        ok: false,
        error: { code: 'E_UNKNOWN_OP', message: `unknown ${m.stream ? 'stream' : 'operation'} "${m.op}"` },
      });
    }
    if (m.stream) runStream(m);
    else runCall(m);
  };

  const runCall = (m: RpcRequest): void => {
    inflight.add(m.id);
    Promise.resolve()
      .then(() => ctx.handler.call(m.op, m.args))
      .then(
        (result) => send({ id: m.id, ok: true, result }),
        (e: unknown) => send({ id: m.id, ok: false, error: failure(m.op, e) }),
      )
      .finally(() => inflight.delete(m.id));
  };

  const runStream = (m: RpcRequest): void => {
    const ac = new AbortController();
    inflight.add(m.id);
    streams.set(m.id, ac);
    const live = (): boolean => streams.get(m.id) === ac && !ac.signal.aborted;
    const finish = (msg: ServerMessage): void => {
      if (!live()) return;
      streams.delete(m.id);
      inflight.delete(m.id);
      ac.abort();
      send(msg);
    };
    const emit = (item: unknown): void => {
      if (live()) send({ id: m.id, item });
    };
    Promise.resolve()
      .then(() => ctx.handler.stream!(m.op, m.args, emit, ac.signal))
      .then(
        () => finish({ id: m.id, end: true }),
        (e: unknown) => finish({ id: m.id, ok: false, error: failure(m.op, e) }),
      );
  };

  // The client gets its end marker at once, even if the handler is slow to notice the abort.
  const cancelStream = (id: number): void => {
    const ac = streams.get(id);
    if (!ac) return;
    streams.delete(id);
    inflight.delete(id);
    ac.abort();
    send({ id, end: true });
  };

  const failure = (op: string, e: unknown): ReturnType<typeof toErrorValue> => {
    if (!(e instanceof SdError))
      ctx.log(`rpc: ${op} failed unexpectedly`, { error: e instanceof Error ? e.stack : String(e) });
    return toErrorValue(e);
  };

  sock.on('data', (chunk: Buffer) => {
    if (closing) return;
    try {
      for (const msg of decoder.feed(chunk)) {
        onMessage(msg);
        if (closing) return;
      }
    } catch (e) {
      refuse(CONNECTION_ID, e instanceof SdError ? e : new SdError('E_MALFORMED_FRAME', String(e)));
    }
  });
  sock.on('error', (e) => ctx.log('rpc: client socket error', { message: e.message }));
  sock.on('close', () => {
    closing = true;
    if (linger) clearTimeout(linger);
    for (const ac of streams.values()) ac.abort();
    streams.clear();
  });

  return { close: hangUp };
}
