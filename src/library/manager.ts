// The libraries of one data dir: `<data>/libraries/<uuid>.db`, and which one is current.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';
import { ensurePrivateDir, writePrivateFile } from '../fsutil.js';
import type { DeviceIdentity } from '../identity.js';
import { Library } from './library.js';
import { LIBRARY_FORMAT } from '../store/database.js';
import { libraryIdFor } from '../projections/roster.js';
import { deriveKey, keepKeyInfoName, newKeyInfo, readKeyInfo, writeKeyInfo } from '../store/cipher.js';
import { LocalNames, untouchedFirstLibrary, type Alias, type LibraryName } from './names.js';

export type { LibraryName } from './names.js';

interface Config {
  current?: string;
  /** Local aliases by library id: names are unique per device, shared names need not be. */
  aliases?: Record<string, Alias>;
}

export class LibraryManager {
  private readonly libs = new Map<string, Library>();
  private readonly dir: string;
  private readonly configPath: string;
  private config: Config = {};
  private readonly openHooks: ((lib: Library) => void)[] = [];
  /** Encrypted libraries not unlocked yet: id -> [path, name]. */
  readonly locked = new Map<string, { path: string; name: string }>();
  private readonly names = new LocalNames(
    () => (this.config.aliases ??= {}),
    {
      ids: () => [...this.libs.keys(), ...this.locked.keys()],
      sharedName: (id) => this.libs.get(id)?.name ?? this.locked.get(id)?.name ?? id,
    },
    () => this.save(),
  );

  constructor(
    readonly dataDir: string,
    private readonly device: DeviceIdentity,
  ) {
    this.dir = join(dataDir, 'libraries');
    this.configPath = join(dataDir, 'config.json');
  }

  /** Opens every library of the data dir; creates "default" on first start. */
  async load(): Promise<void> {
    ensurePrivateDir(this.dir);
    if (existsSync(this.configPath)) {
      try {
        this.config = JSON.parse(readFileSync(this.configPath, 'utf8')) as Config;
        if (
          typeof this.config.aliases !== 'object' ||
          this.config.aliases === null ||
          Array.isArray(this.config.aliases)
        )
          delete this.config.aliases;
      } catch {
        throw new SdError('E_CORRUPT_FILE', `${this.configPath} is not valid JSON; fix or remove it`, {
          path: this.configPath,
        });
      }
    }
    for (const f of readdirSync(this.dir).sort()) {
      const m = /^([0-9a-f-]{36})\.db$/.exec(f);
      if (m) {
        const path = join(this.dir, f);
        const info = readKeyInfo(path);
        if (info) {
          // Encrypted: opened now only if the environment carries the passphrase.
          this.locked.set(m[1]!, { path, name: info.name });
          if (process.env.SD_LIBRARY_PASSPHRASE)
            await this.unlock(m[1]!, process.env.SD_LIBRARY_PASSPHRASE).catch(() => undefined);
          continue;
        }
        let lib: Library | undefined;
        try {
          lib = Library.open(path, m[1]!, this.device);
        } catch (e) {
          // Any damage found while opening names the file and what to do, instead of a bare SQLite error.
          await lib?.close().catch(() => undefined);
          if (e instanceof SdError && e.code !== 'E_INTERNAL' && e.code !== 'E_LIBRARY_DOC_MISSING') throw e;
          throw new SdError(
            'E_CORRUPT_DATABASE',
            `the library database ${path} is damaged (${(e as Error).message}); run \`sd doctor\` to see what can be recovered`,
            { path },
          );
        }
        this.attach(lib);
      }
    }
    if (this.libs.size === 0 && this.locked.size === 0) await this.create('default');
    if (!this.config.current || !(this.libs.has(this.config.current) || this.locked.has(this.config.current)))
      this.setCurrent([...this.libs.keys(), ...this.locked.keys()][0]!);
    this.names.settleAll(this.config.current);
  }

  onOpen(fn: (lib: Library) => void): void {
    this.openHooks.push(fn);
    for (const lib of this.libs.values()) fn(lib);
  }

  private attach(lib: Library): void {
    this.libs.set(lib.id, lib);
    // A name that arrives (a joined library's creation) or changes (a rename, ours or a peer's)
    // may collide with another library's here.
    lib.onEvent((ev) => {
      // Not while closing: a library closed before this one cannot be read (start settles again).
      if (this.closing) return;
      // Inside a batch of the feed: its alias is written after the batch (one write with a join's adoption).
      if (ev.type === 'library.created' || ev.type === 'library.renamed')
        this.holdSaves(() => this.names.settle(lib.id));
    });
    for (const fn of this.openHooks) fn(lib);
  }

  /** The open libraries in no particular order: for lookups (the network's, per link and message), no sort. */
  all(): Library[] {
    return [...this.libs.values()];
  }

  /** The open libraries, by the name this device gives them. */
  list(): Library[] {
    return [...this.libs.values()].sort((a, b) => this.nameOf(a.id).localeCompare(this.nameOf(b.id)));
  }

  /** The name a library has here: its local alias, or its shared name. */
  nameOf(id: string): string {
    return this.names.nameOf(id);
  }

  naming(id: string): LibraryName {
    return this.names.naming(id);
  }

  get currentId(): string {
    return this.config.current!;
  }

  /**
   * By id, by the name it has here (alias or shared name), by its shared name when only one
   * library has it, or by a unique id prefix (4+ characters). Undefined selects the current library.
   */
  resolve(ref?: string): Library {
    if (ref === undefined || ref === '') ref = this.currentId;
    const id = this.names.resolveId(ref);
    const lib = this.libs.get(id);
    if (lib) return lib;
    const name = this.nameOf(id);
    throw new SdError(
      'E_LIBRARY_LOCKED',
      `the library "${name}" is encrypted and locked; unlock it with \`sd library unlock ${name}\` (or SD_LIBRARY_PASSPHRASE)`,
    );
  }

  /** The id `ref` names, open or locked (see resolve). */
  resolveId(ref: string): string {
    return this.names.resolveId(ref);
  }

  /** The library, open or locked, that is called `name` here (alias or shared name). */
  findByName(name: string): LibraryName | undefined {
    return this.names.findByName(name);
  }

  async create(name: string, passphrase?: string): Promise<Library> {
    // The id is bound to this device: no other device can write a valid creation event for it.
    const nonce = randomUUID();
    const id = libraryIdFor(this.device.id, nonce);
    const path = join(this.dir, `${id}.db`);
    let key: string | undefined;
    if (passphrase !== undefined) {
      const info = newKeyInfo(name);
      key = await deriveKey(passphrase, info);
      writeKeyInfo(path, info);
    }
    const lib = Library.open(path, id, this.device, { create: true, key });
    // Listeners (the bus) are attached before the first event so it is published too.
    this.attach(lib);
    lib.write(() => {
      lib.append('library.created', {
        id,
        name,
        creator: { dev: this.device.id, pubkey: this.device.publicKey, name: this.device.name },
        nonce,
        v: LIBRARY_FORMAT,
      });
    });
    await lib.ensureShared(this.device.id);
    return lib;
  }

  /** Opens an encrypted library with its passphrase; a wrong one is refused, nothing opened. */
  async unlock(id: string, passphrase: string): Promise<Library> {
    const open = this.libs.get(id);
    if (open) return open;
    const l = this.locked.get(id);
    if (!l) throw new SdError('E_LIBRARY_NOT_FOUND', `no locked library ${id}`);
    const key = await deriveKey(passphrase, readKeyInfo(l.path)!);
    const lib = Library.open(l.path, id, this.device, { key });
    await lib.ensureShared(this.device.id);
    this.locked.delete(id);
    this.attach(lib);
    this.names.settle(id);
    return lib;
  }

  /** A library this device joins: no events of its own yet; its history arrives from peers. */
  async join(id: string, inviter: { dev: string; pubkey: Uint8Array }): Promise<Library> {
    if (this.libs.has(id)) return this.libs.get(id)!;
    const lib = Library.open(join(this.dir, `${id}.db`), id, this.device, { create: true });
    // The inviter's key, learnt when pairing, verifies its feed until the roster arrives.
    lib.db.prepare('INSERT OR REPLACE INTO trust_anchors (dev, pubkey) VALUES (?, ?)').run(inviter.dev, inviter.pubkey);
    // Its Automerge documents open on first use, as at every start: the history projects through
    // plain documents meanwhile, and a join does not load each document twice.
    this.attach(lib);
    return lib;
  }

  async remove(id: string): Promise<void> {
    const lib = this.libs.get(id);
    if (!lib) return;
    await lib.close({ discard: true });
    this.libs.delete(id);
    for (const suffix of ['', '-wal', '-shm']) rmSync(lib.path + suffix, { force: true });
    rmSync(lib.path.replace(/\.db$/, '.keyinfo'), { force: true });
    this.names.forget(id);
    if (this.config.current === id) {
      const next = [...this.libs.keys()][0];
      if (next) this.config.current = next;
      else delete this.config.current;
    }
    this.save();
  }

  /**
   * After `pair join`: the joined library becomes the current one. The library this device made
   * at its first start goes away when it is the only other one and was never used (see
   * untouchedFirstLibrary), so the device is left with the library it joined, under its own name.
   */
  async adoptJoined(id: string): Promise<{ current: LibraryName; dropped: LibraryName | null }> {
    if (!this.libs.has(id)) throw new SdError('E_LIBRARY_NOT_FOUND', `the joined library ${id} is not here`);
    const others = [...this.libs.values()].filter((l) => l.id !== id);
    const first = others.length === 1 && this.locked.size === 0 ? others[0]! : undefined;
    const dropped = first && untouchedFirstLibrary(first.db, this.device.id) ? this.naming(first.id) : null;
    // One durable write of the config for the whole adoption (the current library, the dropped one's
    // alias, the joined one's name), not one per step: a crash in between leaves a config that the
    // next start settles (a current library that is gone is replaced, aliases of gone ones dropped).
    this.held = 'held';
    try {
      this.setCurrent(id);
      if (dropped) await this.remove(dropped.id);
      this.names.settle(id);
    } finally {
      this.held = 'no';
      this.save();
    }
    return { current: this.naming(id), dropped };
  }

  setCurrent(id: string): void {
    this.config.current = id;
    this.save();
  }

  /** 'held': config writes wait (see holdSaves, adoptJoined); 'dirty': one was asked for meanwhile. */
  private held: 'no' | 'held' | 'dirty' = 'no';
  private saveSoon: NodeJS.Immediate | undefined;

  private save(): void {
    if (this.held !== 'no') {
      this.held = 'dirty';
      return;
    }
    clearImmediate(this.saveSoon);
    this.saveSoon = undefined;
    writePrivateFile(this.configPath, JSON.stringify(this.config, null, 2));
  }

  /** Runs fn (called from a committed group's listeners) with its config write moved after the group. */
  private holdSaves(fn: () => void): void {
    if (this.held !== 'no') return fn();
    this.held = 'held';
    try {
      fn();
    } finally {
      const dirty = (this.held as string) === 'dirty'; // set by save() inside fn
      this.held = 'no';
      if (dirty) this.saveSoon ??= setImmediate(() => this.save());
    }
  }

  private closing = false;

  async closeAll(): Promise<void> {
    this.closing = true;
    if (this.saveSoon) this.save();
    for (const lib of this.libs.values()) {
      keepKeyInfoName(lib.path, lib.name); // a rename that came from a peer shows while locked too
      await lib.close();
    }
    this.libs.clear();
  }
}
