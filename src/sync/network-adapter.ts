// automerge-repo NetworkAdapter over our authenticated per-peer links. Each link gives a
// SyncChannel; both ends say hello (PeerId + metadata) before either announces the other,
// then carry automerge-repo messages as msgpack frames. Chunking and ordering are the link's job.
import {
  NetworkAdapter,
  type Message,
  type PeerId,
  type PeerMetadata,
  type StorageId,
} from '@automerge/automerge-repo';
import { Packr } from 'msgpackr';
import { SdError } from '../errors.js';

/** One authenticated link to one remote device, as the transport hands it over. */
export interface SyncChannel {
  /** The remote automerge PeerId the link authenticated; a hello claiming another id is refused. */
  readonly peerId: string;
  send(bytes: Uint8Array): void;
  onMessage(cb: (bytes: Uint8Array) => void): void;
  onClose(cb: () => void): void;
}

export interface LinkNetworkAdapterOptions {
  /** How long whenReady() waits for the hellos of the links present at connect(). */
  readyTimeoutMs?: number;
  /** Told about refused hellos and undecodable or spoofed frames (they are dropped). */
  onProtocolError?: (err: SdError, channel: SyncChannel) => void;
}

const PROTOCOL = 1;

type Frame =
  | { t: 'hello'; v: number; peerId: string; meta: PeerMetadata; reply: boolean }
  | { t: 'bye' }
  | { t: 'msg'; m: Message };

// Maps, not records, on the wire; copyBuffers so a payload never aliases the link's buffer.
const packr = new Packr({ useRecords: false, copyBuffers: true });

interface Link {
  channel: SyncChannel;
  open: boolean;
  remote?: { peerId: PeerId; meta: PeerMetadata };
}

export class LinkNetworkAdapter extends NetworkAdapter {
  #links = new Set<Link>();
  #byPeer = new Map<PeerId, Link>();
  #connected = false;
  #ready = false;
  #pending = new Set<Link>();
  #readyTimer: NodeJS.Timeout | undefined;
  #resolveReady!: () => void;
  #readyPromise = new Promise<void>((resolve) => (this.#resolveReady = resolve));

  constructor(private readonly opts: LinkNetworkAdapterOptions = {}) {
    super();
  }

  isReady(): boolean {
    return this.#ready;
  }

  whenReady(): Promise<void> {
    return this.#readyPromise;
  }

  /** Called by the transport each time a link to a roster peer comes up. */
  addChannel(channel: SyncChannel): void {
    const link: Link = { channel, open: true };
    this.#links.add(link);
    channel.onMessage((bytes) => this.#receive(link, bytes));
    channel.onClose(() => this.#closed(link));
    if (this.#connected) {
      if (!this.#ready) this.#pending.add(link);
      this.#sendHello(link, false);
    }
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId;
    this.peerMetadata = peerMetadata ?? {};
    this.#connected = true;
    for (const link of this.#links) {
      if (!this.#ready) this.#pending.add(link);
      this.#sendHello(link, false);
    }
    if (this.#pending.size === 0) this.#markReady();
    else if (!this.#ready && !this.#readyTimer) {
      // A link whose peer never answers must not hold find() forever.
      this.#readyTimer = setTimeout(() => this.#markReady(), this.opts.readyTimeoutMs ?? 2000);
      this.#readyTimer.unref();
    }
  }

  send(message: Message): void {
    if (!this.#connected) return;
    const link = this.#byPeer.get(message.targetId);
    // An unknown target is dropped: automerge-repo's sync re-requests what it lacks.
    if (!link) return;
    this.#write(link, { t: 'msg', m: message });
  }

  disconnect(): void {
    if (!this.#connected) return;
    for (const link of this.#links) {
      this.#write(link, { t: 'bye' });
      this.#forget(link);
    }
    this.#connected = false;
    this.#pending.clear();
    clearTimeout(this.#readyTimer);
    this.#readyTimer = undefined;
  }

  /** The peers currently announced to the repo. */
  get peers(): PeerId[] {
    return [...this.#byPeer.keys()];
  }

  #markReady(): void {
    clearTimeout(this.#readyTimer);
    this.#readyTimer = undefined;
    this.#pending.clear();
    if (this.#ready) return;
    this.#ready = true;
    this.#resolveReady();
  }

  #settle(link: Link): void {
    if (this.#pending.delete(link) && this.#pending.size === 0) this.#markReady();
  }

  #sendHello(link: Link, reply: boolean): void {
    this.#write(link, { t: 'hello', v: PROTOCOL, peerId: this.peerId as string, meta: this.peerMetadata ?? {}, reply });
  }

  #write(link: Link, frame: Frame): void {
    if (!link.open) return;
    try {
      link.channel.send(packr.pack(frame));
    } catch {
      // A link that fails to send is going down; its onClose does the bookkeeping.
    }
  }

  #receive(link: Link, bytes: Uint8Array): void {
    if (!this.#connected || !link.open) return;
    let frame: Frame;
    try {
      // A Buffer would decode payloads as Buffers; automerge-repo expects plain Uint8Arrays.
      const view = Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
      frame = packr.unpack(view) as Frame;
    } catch (e) {
      return this.#protocolError(link, 'E_SYNC_BAD_FRAME', `undecodable sync frame: ${(e as Error).message}`);
    }
    if (frame === null || typeof frame !== 'object')
      return this.#protocolError(link, 'E_SYNC_BAD_FRAME', 'sync frame is not an object');
    switch (frame.t) {
      case 'hello':
        return this.#hello(link, frame);
      case 'bye':
        return this.#forget(link);
      case 'msg':
        return this.#message(link, frame.m);
      default:
        return this.#protocolError(link, 'E_SYNC_BAD_FRAME', 'unknown sync frame type');
    }
  }

  #hello(link: Link, frame: Extract<Frame, { t: 'hello' }>): void {
    const meta = readMetadata(frame.meta);
    if (frame.v !== PROTOCOL || typeof frame.peerId !== 'string' || frame.peerId === '' || !meta) {
      return this.#protocolError(link, 'E_SYNC_BAD_HELLO', 'malformed sync hello');
    }
    if (link.channel.peerId && frame.peerId !== link.channel.peerId) {
      return this.#protocolError(
        link,
        'E_SYNC_PEER_MISMATCH',
        `link authenticated ${link.channel.peerId} but its hello claims ${frame.peerId}`,
      );
    }
    const peerId = frame.peerId as PeerId;
    if (link.remote?.peerId !== peerId) {
      if (link.remote) this.#forget(link);
      link.remote = { peerId, meta };
      const already = this.#byPeer.has(peerId);
      this.#byPeer.set(peerId, link); // the newest link to a peer carries its traffic
      if (!already) this.emit('peer-candidate', { peerId, peerMetadata: meta });
    }
    if (!frame.reply) this.#sendHello(link, true);
    this.#settle(link);
  }

  #message(link: Link, m: unknown): void {
    if (!link.remote) return this.#protocolError(link, 'E_SYNC_NO_HELLO', 'sync message before hello');
    if (!isMessage(m)) return this.#protocolError(link, 'E_SYNC_BAD_FRAME', 'malformed automerge-repo message');
    // Ephemeral messages are gossiped with their origin's senderId; anything else must be the link's peer.
    if ((m.type !== 'ephemeral' && m.senderId !== link.remote.peerId) || m.targetId !== this.peerId) {
      return this.#protocolError(
        link,
        'E_SYNC_SPOOFED',
        `message from ${link.remote.peerId} claims sender ${m.senderId} and target ${m.targetId}`,
      );
    }
    this.emit('message', m);
  }

  /** The link's peer is gone (bye, our disconnect, or the link closed). */
  #forget(link: Link): void {
    const remote = link.remote;
    link.remote = undefined;
    if (!remote || this.#byPeer.get(remote.peerId) !== link) return;
    const other = [...this.#links].find((l) => l !== link && l.open && l.remote?.peerId === remote.peerId);
    if (other) this.#byPeer.set(remote.peerId, other);
    else {
      this.#byPeer.delete(remote.peerId);
      this.emit('peer-disconnected', { peerId: remote.peerId });
    }
  }

  #closed(link: Link): void {
    if (!link.open) return;
    this.#forget(link);
    link.open = false;
    this.#links.delete(link);
    this.#settle(link);
  }

  #protocolError(link: Link, code: string, message: string): void {
    this.opts.onProtocolError?.(new SdError(code, message), link.channel);
  }
}

function readMetadata(x: unknown): PeerMetadata | undefined {
  if (x === null || typeof x !== 'object') return undefined;
  // msgpack has no undefined: an absent field may come back as null.
  const r = x as Record<string, unknown>;
  const storageId = r.storageId ?? undefined;
  const isEphemeral = r.isEphemeral ?? undefined;
  if (storageId !== undefined && typeof storageId !== 'string') return undefined;
  if (isEphemeral !== undefined && typeof isEphemeral !== 'boolean') return undefined;
  const meta: PeerMetadata = {};
  if (storageId !== undefined) meta.storageId = storageId as StorageId;
  if (isEphemeral !== undefined) meta.isEphemeral = isEphemeral;
  return meta;
}

function isMessage(m: unknown): m is Message {
  if (m === null || typeof m !== 'object') return false;
  const r = m as Record<string, unknown>;
  return (
    typeof r.type === 'string' &&
    typeof r.senderId === 'string' &&
    typeof r.targetId === 'string' &&
    (r.data === undefined || r.data instanceof Uint8Array)
  );
}
