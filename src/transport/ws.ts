// WebSocket listener and dialer for peer links (ws): each WebSocket is a MessageTransport that
// carries handshake messages and encrypted records, never more than one Noise message each.
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { SdError } from '../errors.js';
import { BULK_RECORD } from './ciphers.js';
import { addressOf, StrangerGate, type Ticket } from './gate.js';
import { handshakeTimeoutMs } from './handshake.js';
import type { CloseReason, MessageTransport } from './types.js';

/**
 * A record: an 8-byte nonce and a Noise message (at most 65,535 bytes), or a bulk record (a file
 * chunk: at most BULK_RECORD bytes, see bulk.ts). Bigger closes the socket.
 */
export const WS_MAX_MESSAGE = 8 + BULK_RECORD;

export interface WsListener {
  port: number;
  readonly gate: StrangerGate;
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  gate?: StrangerGate;
  /** A connection refused at the gate (too many strangers), before any byte was read. */
  onTurnedAway?(address: string): void;
}

/**
 * Listens for peer connections; port 0 picks a free one. Each connection holds a stranger
 * ticket from its first byte: the caller releases it once the peer proved a roster key.
 */
export function listenWs(
  opts: ListenOptions,
  onConnection: (t: MessageTransport, ticket: Ticket) => void,
): Promise<WsListener> {
  const gate = opts.gate ?? new StrangerGate();
  return new Promise((resolve, reject) => {
    // A connection that never finishes its HTTP upgrade (slow loris) is cut at the handshake
    // deadline, not at Node's 60 s default; after the upgrade the handshake's own deadline applies.
    const deadline = handshakeTimeoutMs();
    const server = createServer({
      headersTimeout: deadline,
      requestTimeout: deadline,
      connectionsCheckingInterval: Math.min(1000, deadline),
    });
    server.on('request', (_req, res) => res.writeHead(426).end());
    const wss = new WebSocketServer({ server, maxPayload: WS_MAX_MESSAGE, perMessageDeflate: false });
    server.once('error', (e) =>
      reject(new SdError('E_P2P_LISTEN', `cannot listen for peers on ${opts.host}:${opts.port}: ${e.message}`)),
    );
    const tickets = new WeakMap<object, Ticket>();
    // ws re-emits the server's errors (EADDRINUSE...); the rejection above reports them, and
    // without this listener the re-emitted one would crash the daemon with a stack trace.
    wss.on('error', () => undefined);
    server.on('connection', (socket) => {
      const ticket = gate.admit(addressOf(socket.remoteAddress));
      if (!ticket) {
        socket.destroy();
        opts.onTurnedAway?.(addressOf(socket.remoteAddress));
        return;
      }
      tickets.set(socket, ticket);
      // Our own deadline too: a socket not upgraded in time is cut, whatever Node's checks do.
      const timer = setTimeout(() => upgraded.has(socket) || socket.destroy(), deadline);
      timer.unref();
      socket.once('close', () => (clearTimeout(timer), ticket.release()));
    });
    const upgraded = new WeakSet<object>();
    wss.on('connection', (ws, req) => {
      upgraded.add(req.socket);
      const ticket = tickets.get(req.socket);
      if (!ticket) return ws.terminate();
      onConnection(wsTransport(ws, `${addressOf(req.socket.remoteAddress)}:${req.socket.remotePort}`), ticket);
    });
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : opts.port,
        gate,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close(() => {
              server.closeAllConnections();
              server.close(() => r());
            });
          }),
      });
    });
  });
}

/** Dials ws://host:port (from `localAddress`, when given) and resolves once the socket is open. */
export function connectWs(
  host: string,
  port: number,
  opts: { timeoutMs?: number; localAddress?: string } = {},
): Promise<MessageTransport> {
  const where = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      maxPayload: WS_MAX_MESSAGE,
      perMessageDeflate: false,
      handshakeTimeout: opts.timeoutMs ?? 5000,
      localAddress: opts.localAddress,
      // Client masking (RFC 6455 5.3) keeps browser-chosen bytes from confusing HTTP caches on the
      // way; ours is a non-browser client sending ciphertext, so a zero mask (which ws skips on
      // both ends) saves an XOR over every byte.
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    // Wrapped before 'open' so that nothing the peer says first is lost.
    const t = wsTransport(ws, where);
    const onError = (e: Error): void =>
      reject(new SdError('E_PEER_UNREACHABLE', `cannot reach ${where}: ${e.message}`));
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(t);
    });
  });
}

/** A WebSocket as a MessageTransport: binary frames only; the close code says only how it ended. */
export function wsTransport(ws: WebSocket, remoteAddress: string): MessageTransport {
  const early: Uint8Array[] = [];
  let msgCb: ((d: Uint8Array) => void) | undefined;
  let closeCb: (r: CloseReason) => void = () => {};
  let drainCb: () => void = () => {};
  let lowWater = 0;
  let closed: CloseReason | undefined;
  let pending = 0; // bytes handed to ws and not yet written to the socket
  const tooLarge = { code: 'E_FRAME_TOO_LARGE', message: `the peer sent a message over ${WS_MAX_MESSAGE} bytes` };
  const finish = (reason: CloseReason): void => {
    if (closed) return;
    closed = reason;
    closeCb(reason);
  };
  ws.on('message', (d: Buffer, isBinary: boolean) => {
    if (closed) return;
    if (!isBinary) return t.close({ code: 'E_BAD_FRAME', message: 'the peer sent a text frame' });
    const u = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (msgCb) msgCb(u);
    else early.push(u);
  });
  // The reason text of a close frame is not authenticated: only the encrypted close says why.
  ws.on('close', (code) =>
    finish(code === 1009 ? tooLarge : { code: 'E_LINK_CUT', message: `the connection closed (${code})` }),
  );
  // A protocol error (an oversized or malformed frame) is an 'error' event: without a listener it
  // would throw in the daemon. ws closes the socket itself.
  ws.on('error', (e: Error & { code?: string }) =>
    finish(
      e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? tooLarge
        : { code: 'E_LINK_CUT', message: `transport error: ${e.message}` },
    ),
  );
  const t: MessageTransport = {
    kind: 'lan-ws',
    maxMessageSize: WS_MAX_MESSAGE,
    remoteAddress,
    get closed() {
      return closed !== undefined;
    },
    send(data) {
      if (closed || ws.readyState !== ws.OPEN) throw new SdError('E_LINK_CLOSED', 'the socket is closed');
      pending += data.length;
      ws.send(data, { binary: true }, () => {
        pending -= data.length;
        if (pending <= lowWater && pending + data.length > lowWater) drainCb();
      });
    },
    onMessage(cb) {
      msgCb = cb;
      for (const d of early.splice(0)) if (!closed) cb(d);
    },
    onClose: (cb) => void (closeCb = cb),
    onDrain: (low, cb) => void ((lowWater = low), (drainCb = cb)),
    bufferedAmount: () => pending,
    close(reason = { code: 'E_LINK_CLOSED', message: 'closed' }) {
      finish(reason);
      try {
        ws.close(4000, reason.code.slice(0, 100));
      } catch {
        // already closing
      }
      // Don't wait for the closing handshake of a peer that may never answer.
      setTimeout(() => ws.terminate(), 1000).unref();
    },
  };
  return t;
}
