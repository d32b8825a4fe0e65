// What an op sees of the daemon: the members ops use, each as a small interface declared here,
// so that nothing under ops/ imports the Core (Core satisfies OpHost). A preview gets the
// read-only half: it cannot append events, write a database, enqueue a job or dial a peer.
import type { Library } from '../library/library.js';
import type { LibraryName } from '../library/names.js';
import type { JobRow } from '../jobs/store.js';
import type { LiveJob } from '../jobs/manager.js';
import type { BookEntry } from '../sync/address-book.js';
import type { PeerStatus } from '../sync/peer-status.js';
import type { PeerLink } from '../transport/types.js';
import type { Port } from '../transfer/port.js';
import type { TransferView } from '../transfer/status.js';

/** A prepared statement that only reads. */
export interface ReadStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  pluck(on?: boolean): ReadStatement;
  raw(on?: boolean): ReadStatement;
}

/** A database seen through reads only: `run` and `exec` do not exist here. */
export interface ReadDb {
  prepare(sql: string): ReadStatement;
}

/** A library as a preview sees it: its identity and its database, for reading. */
export interface ReadonlyLibrary {
  readonly id: string;
  readonly path: string;
  readonly name: string;
  readonly encrypted: boolean;
  readonly db: ReadDb;
  /** A reader connection of its own. */
  readonly ro: ReadDb;
  /** The event log, for reading its heads and size. */
  readonly log: { headOf(dev: string): { seq: number }; count(): number };
  keyOf(dev: string): { pubkey: Uint8Array; revokedSeq: number | null } | undefined;
}

export interface ReadLibraries {
  readonly currentId: string;
  /** Libraries known here whose passphrase has not been given yet. */
  readonly locked: ReadonlyMap<string, { path: string; name: string }>;
  list(): ReadonlyLibrary[];
  resolve(ref?: string): ReadonlyLibrary;
  resolveId(ref: string): string;
  nameOf(id: string): string;
  naming(id: string): LibraryName;
  findByName(name: string): LibraryName | undefined;
}

export interface OpLibraries extends ReadLibraries {
  list(): Library[];
  resolve(ref?: string): Library;
  create(name: string, passphrase?: string): Promise<Library>;
  unlock(id: string, passphrase: string): Promise<Library>;
  remove(id: string): Promise<void>;
  adoptJoined(id: string): Promise<{ current: LibraryName; dropped: LibraryName | null }>;
  setCurrent(id: string): void;
}

export interface ReadJobs {
  /** Whether jobs run here (a Core opened without services only queues them). */
  readonly serving: boolean;
  live(): Map<string, LiveJob>;
  latestFor(loc: string): string | undefined;
  isWatching(loc: string): boolean;
  /** Starts the hashing threads for a job about to come; changes no library. */
  warmThreads(): void;
}

export interface OpJobs extends ReadJobs {
  enqueue(lib: Library, kind: string, loc: string | null, input: unknown): JobRow;
  pause(lib: Library, id: string): JobRow;
  resume(lib: Library, id: string): JobRow;
  cancel(lib: Library, id: string): JobRow;
  settled(id: string): Promise<void>;
  locationSettled(loc: string): Promise<void>;
}

export interface PeerOnline {
  online: boolean;
  link: string | null;
  path: string | null;
  rttMs: number | null;
  since: number | null;
}

export interface ReadPeers {
  readonly invites: { readonly active: number };
  readonly book: { of(dev: string): BookEntry[]; list(): BookEntry[] };
  status(): { port: number | null; refusals: Record<string, number>; peers: PeerStatus[] };
  online(dev: string): PeerOnline;
  linkTo(dev: string): PeerLink | undefined;
}

export interface JoinedLibrary {
  member: () => Promise<boolean>;
  library: string;
  libraryName: string;
  inviter: string;
  inviterName: string;
  fingerprint: string;
}

export interface OpPeers extends ReadPeers {
  invite(lib: Library, ttlMs: number, advertiseHost?: string): { code: string; expires: number };
  join(code: string): Promise<JoinedLibrary>;
  addPeer(addr: { host: string; port: number }): Promise<{ device: string; fingerprint: string }>;
  callPeer(dev: string): Promise<{ device: string; fingerprint: string; path: string | null }>;
  removePeer(match: { dev?: string; host?: string; port?: number }): BookEntry[];
}

export interface ReadTransfers {
  readonly board: { views(): TransferView[]; readonly bytes: { sent: number; received: number } };
  readonly sendLimit: { readonly bytesPerSecond: number };
}

export interface OpTransfers extends ReadTransfers {
  setLimit(bytesPerSecond: number): void;
  attach(link: PeerLink): Port;
  createGrant(lib: Library, peer: string, paths: string[]): string;
  dropEnded(lib: Library, id: string, state: 'done' | 'rejected' | 'failed'): void;
}

/** What a preview (and a query) may see: reads only. */
export interface PreviewHost {
  readonly dataDir: string;
  readonly device: { readonly id: string; readonly name: string; readonly publicKey: Uint8Array };
  readonly libraries: ReadLibraries;
  readonly jobs: ReadJobs;
  /** The network, once the daemon listens for peers. */
  readonly peers: ReadPeers | undefined;
  /** File transfers, when the daemon runs its services. */
  readonly transfers: ReadTransfers | undefined;
}

/** What commit and verify may use. */
export interface OpHost extends PreviewHost {
  readonly device: { readonly id: string; name: string; readonly publicKey: Uint8Array };
  readonly libraries: OpLibraries;
  readonly jobs: OpJobs;
  readonly peers: OpPeers | undefined;
  readonly transfers: OpTransfers | undefined;
}
