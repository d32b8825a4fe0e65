// WebSocket listener and dialer for peer links (ws).
import { WebSocket, WebSocketServer } from 'ws';
import { SdError } from '../errors.js';

const MAX_PAYLOAD = 64 * 1024 * 1024;

export interface WsListener {
  port: number;
  close(): Promise<void>;
}

export function listenWs(host: string, port: number, onSocket: (ws: WebSocket, remote: string) => void): Promise<WsListener> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host, port, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
    wss.once('error', (e) => reject(new SdError('E_P2P_LISTEN', `cannot listen for peers on ${host}:${port}: ${e.message}`)));
    wss.on('connection', (ws, req) => onSocket(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    wss.once('listening', () => {
      const addr = wss.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close(() => r());
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
    const ws = new WebSocket(`ws://${host.includes(':') ? `[${host}]` : host}:${port}`, { maxPayload: MAX_PAYLOAD, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const queue: Buffer[] = [];
    const listener = (d: Buffer): void => void queue.push(d);
    ws.on('message', listener);
    early.set(ws, { queue, listener });
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(ws);
    });
    const onError = (e: Error): void => reject(new SdError('E_PEER_UNREACHABLE', `cannot reach ${host}:${port}: ${e.message}`));
    ws.once('error', onError);
  });
}
