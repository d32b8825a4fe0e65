// File transfers of this device: the `xfer` endpoint on every member link (serving listings and
// bytes, taking drops for the inbox), the bandwidth limit, the board of transfers in flight, the
// grants `sd send` gives and the drops an inbox holds. Runners and commands reach it as
// `core.transfers`.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerSummary } from '../ops/log/summary.js';
import { SdError } from '../errors.js';
import { codeOf } from '../error-codes.js';
import type { Library } from '../library/library.js';
import type { Network } from '../sync/network.js';
import type { PeerLink } from '../transport/types.js';
import { RateLimit } from './limit.js';
import { Port } from './port.js';
import type { MsgOf } from './protocol.js';
import { TransferServer } from './serve.js';
import { TransferBoard } from './status.js';
import { TRANSFER_SCHEMA } from './schema.js';
import type { ReadonlyLibrary } from '../ops/host.js';

registerSummary(
  'transfer.received',
  (b: { via: string; name: string; files: number; bytes: number; received: number; refused: number }) =>
    `${b.via === 'inbox' ? 'received' : 'copied'} ${b.files} file(s) (${b.bytes} bytes) from "${b.name}"${b.via === 'inbox' ? ' into the inbox' : ''}; ${b.received} bytes over the link, ${b.refused} chunk(s) refused`,
);

/** A link refusal that no waiting will cure. */
/** How long a job resumed at start waits for the daemon's network before E_P2P_OFF. */
const NETWORK_GRACE_MS = 30_000;
const FINAL_REFUSALS = new Set(['E_REVOKED', 'E_PEER_NOT_ALLOWED', 'E_NOT_A_MEMBER']);

export interface Drop {
  id: string;
  peer: string;
  items: { path: string; files: number; bytes: number }[];
  files: number;
  bytes: number;
  state: 'pending' | 'accepted' | 'rejected' | 'done' | 'failed';
  job: string | null;
  createdAt: number;
}

export function transferTables(db: Library['db']): void {
  db.exec(TRANSFER_SCHEMA); // made by migration 2; here too for a database opened before it ran
}

/** What transfers read of the daemon (the Core satisfies it; nothing here imports it). */
export interface TransfersHost {
  readonly device: { readonly id: string; readonly name: string };
  readonly libraries: { list(): Library[] };
  readonly peers: Pick<Network, 'linkTo' | 'lastErrorOf'> | undefined;
  command(name: string, input: unknown, opts: { library?: string; yes?: boolean }): Promise<unknown>;
}

export class Transfers {
  readonly board = new TransferBoard();
  private readonly openedAt = Date.now();
  readonly sendLimit = new RateLimit();
  readonly receiveLimit = new RateLimit();
  readonly server: TransferServer;

  constructor(
    private readonly core: TransfersHost,
    private readonly network: Network,
  ) {
    this.server = new TransferServer({
      self: core.device.id,
      library: (id) => core.libraries.list().find((l) => l.id === id),
      isMember: (lib, dev) => network.memberOf(lib, dev),
      grant: (lib, id, peer) => this.grant(lib, id, peer),
      limit: this.sendLimit,
      board: this.board,
      refused: (code, port, detail) =>
        network.refusalLog.note(code, port.link.remoteAddress, { peer: port.peer, ...detail }),
      offer: (port, m) => this.takeOffer(port, m),
      dropped: (port, m) => this.forgetGrant(port.peer, m.drop),
    });
    network.onMemberLink((link) => this.attach(link));
  }

  /** Bytes a second this device sends and receives in transfers (each direction); 0: no limit. */
  setLimit(bytesPerSecond: number): void {
    this.sendLimit.set(bytesPerSecond);
    this.receiveLimit.set(bytesPerSecond);
  }

  attach(link: PeerLink): Port {
    return Port.of(link, this.server);
  }

  /** The `xfer` port of the device's current link, waiting (bounded by `signal`) for one to come up. */
  async portTo(dev: string, signal: AbortSignal, waiting?: (why: string) => void): Promise<Port> {
    for (;;) {
      signal.throwIfAborted();
      const peers = this.core.peers;
      // A job resumed at start runs before the daemon's network listens: that is waited for a while.
      if (!peers && Date.now() - this.openedAt < NETWORK_GRACE_MS) {
        waiting?.('waiting for the network to start');
        await sleep(200, undefined, { signal });
        continue;
      }
      if (!peers)
        throw new SdError(
          'E_P2P_OFF',
          'the daemon is not listening for peers; restart it with `sd start --p2p-port 0`',
        );
      const link = peers.linkTo(dev);
      if (link) return this.attach(link);
      const err = peers.lastErrorOf(dev);
      if (err && FINAL_REFUSALS.has(err.code))
        throw new SdError(
          codeOf(err.code, 'E_REFUSED'),
          `device ${dev.slice(0, 8)} refuses this device: ${err.message}`,
        );
      waiting?.(err ? `waiting for a link (${err.code})` : 'waiting for a link');
      await sleep(200, undefined, { signal });
    }
  }

  // ---- grants (the sending side of `sd send`) ----

  createGrant(lib: Library, peer: string, paths: string[]): string {
    transferTables(lib.db);
    const id = randomUUID();
    lib.db
      .prepare('INSERT INTO xfer_grants (id, peer, paths, created_at) VALUES (?, ?, ?, ?)')
      .run(id, peer, JSON.stringify(paths), Date.now());
    return id;
  }

  private grant(lib: Library, id: string, peer: string): string[] | undefined {
    transferTables(lib.db);
    const r = lib.db.prepare('SELECT paths FROM xfer_grants WHERE id = ? AND peer = ?').get(id, peer) as
      { paths: string } | undefined;
    return r ? (JSON.parse(r.paths) as string[]) : undefined;
  }

  private forgetGrant(peer: string, id: string): void {
    for (const lib of this.core.libraries.list()) {
      transferTables(lib.db);
      lib.db.prepare('DELETE FROM xfer_grants WHERE id = ? AND peer = ?').run(id, peer);
    }
  }

  // ---- drops (the receiving side of `sd send`) ----

  /** An offer from a member: refused without an inbox, queued (`--accept ask`) or accepted at once. */
  private async takeOffer(port: Port, m: MsgOf<'offer'>): Promise<'accepted' | 'queued'> {
    const lib = this.core.libraries.list().find((l) => l.id === m.lib);
    if (!lib || !this.network.memberOf(lib, port.peer))
      throw new SdError('E_NOT_A_MEMBER', 'this device does not share that library with you');
    const inbox = inboxOf(lib, this.core.device.id);
    if (!inbox)
      throw new SdError(
        'E_NO_INBOX',
        `"${this.core.device.name}" has no inbox: there, run \`sd location add ~/Inbox --inbox\``,
      );
    transferTables(lib.db);
    const old = lib.db.prepare('SELECT state FROM inbox_drops WHERE id = ? AND peer = ?').get(m.drop, port.peer) as
      { state: string } | undefined;
    if (!old) {
      const files = m.items.reduce((n, i) => n + i.files, 0);
      const bytes = m.items.reduce((n, i) => n + i.bytes, 0);
      lib.db
        .prepare(
          "INSERT INTO inbox_drops (id, peer, items, files, bytes, state, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
        )
        .run(m.drop, port.peer, JSON.stringify(m.items), files, bytes, Date.now());
    } else if (old.state !== 'pending') return 'accepted';
    if (inbox.accept === 'ask') return 'queued';
    await this.core.command('inbox.accept', { ref: m.drop }, { library: lib.id, yes: true });
    return 'accepted';
  }

  /** A drop is over: recorded, and the sender told (best effort) so it forgets its grant. */
  dropEnded(lib: Library, id: string, state: 'done' | 'rejected' | 'failed'): void {
    transferTables(lib.db);
    const r = lib.db.prepare('SELECT peer FROM inbox_drops WHERE id = ?').get(id) as { peer: string } | undefined;
    lib.db.prepare('UPDATE inbox_drops SET state = ? WHERE id = ?').run(state, id);
    const link = r && state !== 'failed' ? this.core.peers?.linkTo(r.peer) : undefined;
    if (!link) return;
    try {
      this.attach(link).send({ t: 'dropped', drop: id, state: state === 'done' ? 'done' : 'rejected' });
    } catch {
      // gone: the sender keeps its grant until it is told
    }
  }
}

export interface InboxInfo {
  id: string;
  path: string;
  accept: 'members' | 'ask';
}

/** This device's inbox in a library (the first location marked --inbox), if it has one. */
export function inboxOf(lib: ReadonlyLibrary, dev: string): InboxInfo | undefined {
  return lib.db
    .prepare(
      `SELECT l.id, l.path, s.accept FROM locations l JOIN location_sharing s ON s.id = l.id
       WHERE l.dev = ? AND s.inbox = 1 ORDER BY l.path LIMIT 1`,
    )
    .get(dev) as InboxInfo | undefined;
}

/** Reads only (a preview calls it): the schema migration made the table at open. */
export function dropsOf(lib: ReadonlyLibrary): Drop[] {
  return (
    lib.db.prepare('SELECT * FROM inbox_drops ORDER BY created_at DESC').all() as {
      id: string;
      peer: string;
      items: string;
      files: number;
      bytes: number;
      state: Drop['state'];
      job: string | null;
      created_at: number;
    }[]
  ).map((r) => ({
    id: r.id,
    peer: r.peer,
    items: JSON.parse(r.items) as Drop['items'],
    files: r.files,
    bytes: r.bytes,
    state: r.state,
    job: r.job,
    createdAt: r.created_at,
  }));
}
