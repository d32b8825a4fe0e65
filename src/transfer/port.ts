// One `xfer` endpoint per link: requests from the peer go to the server side (serve.ts), answers
// to our own requests go back to whoever asked (by request id). Both sides number their own
// requests, so an id names a request together with its direction.
import { SdError } from '../errors.js';
import type { PeerLink } from '../transport/types.js';
import { CHANNEL, decode, encode, isChunk, type Chunk, type Msg } from './protocol.js';

export type Answer = Exclude<Msg, { t: 'list' | 'get' | 'credit' | 'stop' | 'offer' | 'dropped' }> | Chunk;
export type Request = Extract<Msg, { t: 'list' | 'get' | 'credit' | 'stop' | 'offer' | 'dropped' }>;
type Omit2<T> = T extends unknown ? Omit<T, 'rid'> : never;

export interface PortServer {
  onRequest(port: Port, m: Request): void;
  onBadMessage(port: Port): void;
  onClose(port: Port): void;
}

const ports = new WeakMap<PeerLink, Port>();
const REQUESTS = new Set(['list', 'get', 'credit', 'stop', 'offer', 'dropped']);

export class Port {
  private next = 1;
  private readonly waiting = new Map<number, (m: Answer) => void>();
  private readonly closers = new Set<(why: SdError) => void>();
  closed = false;

  private constructor(
    readonly link: PeerLink,
    server: PortServer,
  ) {
    link.on('message', (ch, bytes) => {
      if (ch !== CHANNEL) return;
      const m = decode(bytes);
      if (!m) return server.onBadMessage(this);
      if (!isChunk(m) && REQUESTS.has(m.t)) return server.onRequest(this, m as Request);
      this.waiting.get((m as Answer).rid)?.(m as Answer);
    });
    link.once('close', (r) => {
      this.closed = true;
      const e = new SdError('E_LINK_CLOSED', `the link to ${link.peerId.slice(0, 8)} closed: ${r.message}`);
      for (const c of [...this.closers]) c(e);
      this.waiting.clear();
      server.onClose(this);
    });
  }

  static of(link: PeerLink, server: PortServer): Port {
    let p = ports.get(link);
    if (!p) ports.set(link, (p = new Port(link, server)));
    return p;
  }

  get peer(): string {
    return this.link.peerId;
  }

  /** Sends a message; false when the link's buffer is full (wait for drained()). */
  send(m: Msg): boolean {
    return this.link.send(CHANNEL, encode(m));
  }

  /** Sends a chunk's frame: a bulk message (AES-256-GCM, one record). */
  sendRaw(bytes: Uint8Array): boolean {
    return this.link.send(CHANNEL, bytes, { bulk: true });
  }

  /** Resolves once the link's buffer drained below its low-water mark (or it closed, or `signal` aborted). */
  drained(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.link.off('drain', done);
        this.link.off('close', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.link.once('drain', done);
      this.link.once('close', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Sends a request; its answers go to `on` until `end()` is called. `onClose` hears a closed link. */
  request(
    m: Omit2<Extract<Msg, { t: 'list' | 'get' | 'offer' }>>,
    on: (a: Answer) => void,
    onClose: (e: SdError) => void,
  ): { rid: number; end: () => void } {
    if (this.closed) throw new SdError('E_LINK_CLOSED', 'the link is closed');
    const rid = this.next++;
    this.waiting.set(rid, on);
    this.closers.add(onClose);
    const end = (): void => {
      this.waiting.delete(rid);
      this.closers.delete(onClose);
    };
    try {
      this.send({ ...m, rid } as Msg);
    } catch (e) {
      end();
      throw e;
    }
    return { rid, end };
  }
}
