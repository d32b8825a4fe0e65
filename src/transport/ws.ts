// WebSocket listener and dialer for peer links (ws).
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { SdError } from '../errors.js';
import type { MessageTransport } from './types.js';

/** The largest frame a peer link accepts (a feed batch is at most ~2 MiB); bigger closes it. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;

/** Each handshake step's deadline; SD_HANDSHAKE_TIMEOUT_MS lowers it (tests of stalled peers). */
export function handshakeTimeoutMs(): number {
  const v = Number(process.env.SD_HANDSHAKE_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}
const WS_TRANSPORT_MAX = 256 * 1024;
const LOW_WATER = 256 * 1024;

export interface WsListener {
  port: number;
  close(): Promise<void>;
}

/** Listens for MessageTransports (for openPeerLink); port 0 picks a free one. */
export function listenWs(
  opts: { host: string; port: number },
  onConnection: (t: MessageTransport, remote: string) => void,
): Promise<WsListener>;
/** Listens for raw sockets (the legacy link in link.ts). */
export function listenWs(
  host: string,
  port: number,
  onSocket: (ws: WebSocket, remote: string) => void,
): Promise<WsListener>;
export function listenWs(
  a: string | { host: string; port: number },
  b: number | ((t: MessageTransport, remote: string) => void),
  c?: (ws: WebSocket, remote: string) => void,
): Promise<WsListener> {
  const [host, port] = typeof a === 'string' ? [a, b as number] : [a.host, a.port];
  const onSocket: (ws: WebSocket, remote: string) => void =
    typeof a === 'string'
      ? c!
      : (ws, remote) => (b as (t: MessageTransport, r: string) => void)(wsTransport(ws), remote);
  // Transports carry reliable-layer chunks only, so their frames stay small.
  const maxPayload = typeof a === 'string' ? MAX_PAYLOAD : WS_TRANSPORT_MAX;
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
    const wss = new WebSocketServer({ server, maxPayload, perMessageDeflate: false });
    server.once('error', (e) =>
      reject(new SdError('E_P2P_LISTEN', `cannot listen for peers on ${host}:${port}: ${e.message}`)),
    );
    // ws re-emits the server's errors (EADDRINUSE...); the rejection above reports them, and
    // without this listener the re-emitted one would crash the daemon with a stack trace.
    wss.on('error', () => undefined);
    // Our own deadline too: a socket not upgraded in time is cut, whatever Node's checks do.
    const upgraded = new WeakSet<object>();
    server.on('connection', (socket) => {
      const timer = setTimeout(() => upgraded.has(socket) || socket.destroy(), deadline);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    });
    wss.on('connection', (ws, req) => {
      upgraded.add(req.socket);
      // A protocol error (an oversized or malformed frame) is an 'error' event: without a
      // listener it would throw in the daemon. ws closes the socket itself; the handshake or the
      // link listens too and records why.
      ws.on('error', () => undefined);
      onSocket(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    });
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
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

const early = new WeakMap<WebSocket, { queue: Buffer[]; listener: (d: Buffer) => void }>();

/** Messages that arrived before the handshake listened (the peer may speak first). */
export function takeEarly(ws: WebSocket): Buffer[] {
  const e = early.get(ws);
  if (!e) return [];
  ws.off('message', e.listener);
  early.delete(ws);
  return e.queue;
}

export function dialWs(host: string, port: number, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      maxPayload: MAX_PAYLOAD,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    const queue: Buffer[] = [];
    const listener = (d: Buffer): void => void queue.push(d);
    ws.on('message', listener);
    early.set(ws, { queue, listener });
    ws.once('open', () => {
      ws.off('error', onError);
      ws.on('error', () => undefined); // never an unhandled 'error' (see listenWs)
      resolve(ws);
    });
    const onError = (e: Error): void =>
      reject(new SdError('E_PEER_UNREACHABLE', `cannot reach ${host}:${port}: ${e.message}`));
    ws.once('error', onError);
  });
}

/** Dials ws://host:port and resolves with a MessageTransport once the socket is open. */
export function connectWs(url: string, timeoutMs = 5000): Promise<MessageTransport> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      maxPayload: WS_TRANSPORT_MAX,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    // Wrapped before 'open' so that nothing the peer says first is lost.
    const t = wsTransport(ws);
    const onError = (e: Error): void => reject(new SdError('E_PEER_UNREACHABLE', `cannot reach ${url}: ${e.message}`));
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(t);
    });
  });
}

/** A WebSocket as a MessageTransport: binary frames, close reason in the close frame. */
export function wsTransport(ws: WebSocket): MessageTransport {
  const early: Uint8Array[] = [];
  let msgCb: ((d: Uint8Array) => void) | undefined;
  let closeCb: (r: string) => void = () => {};
  let drainCb: () => void = () => {};
  let closedReason: string | undefined;
  let pending = 0; // bytes handed to ws and not yet written to the socket
  const finish = (reason: string): void => {
    if (closedReason !== undefined) return;
    closedReason = reason;
    closeCb(reason);
  };
  ws.on('message', (d: Buffer, isBinary: boolean) => {
    if (!isBinary) return finish('E_BAD_FRAME: a text frame');
    const u = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (msgCb) msgCb(u);
    else early.push(u);
  });
  ws.on('close', (code, reason) => finish(reason.toString() || `the connection closed (${code})`));
  ws.on('error', (e) => finish(`E_TRANSPORT: ${e.message}`));
  return {
    kind: 'lan-ws',
    maxMessageSize: WS_TRANSPORT_MAX,
    get closed() {
      return closedReason !== undefined;
    },
    send(data) {
      if (closedReason !== undefined || ws.readyState !== ws.OPEN)
        throw new SdError('E_LINK_CLOSED', 'the socket is closed');
      pending += data.length;
      ws.send(data, { binary: true }, () => {
        pending -= data.length;
        if (pending < LOW_WATER && pending + data.length >= LOW_WATER) drainCb();
      });
    },
    onMessage(cb) {
      msgCb = cb;
      for (const d of early.splice(0)) cb(d);
    },
    onClose: (cb) => void (closeCb = cb),
    onDrain: (cb) => void (drainCb = cb),
    bufferedAmount: () => pending,
    close(reason = 'closed') {
      finish(reason);
      try {
        ws.close(4000, fitCloseReason(reason));
      } catch {
        // already closing
      }
      // Don't wait for the closing handshake of a peer that may never answer.
      setTimeout(() => ws.terminate(), 1000).unref();
    },
  };
}

/** A close frame's reason is at most 123 bytes of UTF-8. */
function fitCloseReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}
