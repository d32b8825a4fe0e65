// The libraries of one data dir: `<data>/libraries/<uuid>.db`, and which one is current.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';
import { ensurePrivateDir, writePrivateFile } from '../fsutil.js';
import type { DeviceIdentity } from '../identity.js';
import { Library } from './library.js';

interface Config {
  current?: string;
}

export class LibraryManager {
  private readonly libs = new Map<string, Library>();
  private readonly dir: string;
  private readonly configPath: string;
  private config: Config = {};
  private readonly openHooks: ((lib: Library) => void)[] = [];

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
      } catch {
        throw new SdError('E_CORRUPT_FILE', `${this.configPath} is not valid JSON; fix or remove it`, { path: this.configPath });
      }
    }
    for (const f of readdirSync(this.dir).sort()) {
      const m = /^([0-9a-f-]{36})\.db$/.exec(f);
      if (m) {
        const lib = Library.open(join(this.dir, f), m[1]!, this.device);
        await lib.openShared(this.device.id);
        this.attach(lib);
      }
    }
    if (this.libs.size === 0) await this.create('default');
    if (!this.config.current || !this.libs.has(this.config.current)) this.setCurrent([...this.libs.keys()][0]!);
  }

  onOpen(fn: (lib: Library) => void): void {
    this.openHooks.push(fn);
    for (const lib of this.libs.values()) fn(lib);
  }

  private attach(lib: Library): void {
    this.libs.set(lib.id, lib);
    for (const fn of this.openHooks) fn(lib);
  }

  list(): Library[] {
    return [...this.libs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get currentId(): string {
    return this.config.current!;
  }

  /** By id, by unique id prefix, or by name. Undefined selects the current library. */
  resolve(ref?: string): Library {
    if (ref === undefined || ref === '') return this.libs.get(this.currentId)!;
    const byId = this.libs.get(ref);
    if (byId) return byId;
    const byName = this.list().filter((l) => l.name === ref);
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1) throw new SdError('E_AMBIGUOUS_LIBRARY', `${byName.length} libraries are named "${ref}"; use the id`);
    const byPrefix = ref.length >= 4 ? [...this.libs.values()].filter((l) => l.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    throw new SdError('E_LIBRARY_NOT_FOUND', `no library named or with id "${ref}" (see \`sd library list\`)`);
  }

  findByName(name: string): Library | undefined {
    return this.list().find((l) => l.name === name);
  }

  async create(name: string, id: string = randomUUID()): Promise<Library> {
    const lib = Library.open(join(this.dir, `${id}.db`), id, this.device, { create: true });
    // Listeners (the bus) are attached before the first event so it is published too.
    this.attach(lib);
    lib.write(() => {
      lib.append('library.created', { id, name, creator: { dev: this.device.id, pubkey: this.device.publicKey, name: this.device.name } });
    });
    await lib.openShared(this.device.id);
    return lib;
  }

  /** A library this device joins: no events of its own yet; its history arrives from peers. */
  async join(id: string, inviter: { dev: string; pubkey: Uint8Array }): Promise<Library> {
    if (this.libs.has(id)) return this.libs.get(id)!;
    const lib = Library.open(join(this.dir, `${id}.db`), id, this.device, { create: true });
    // The inviter's key, learnt when pairing, verifies its feed until the roster arrives.
    lib.db.prepare('INSERT OR REPLACE INTO trust_anchors (dev, pubkey) VALUES (?, ?)').run(inviter.dev, inviter.pubkey);
    await lib.openShared(this.device.id);
    this.attach(lib);
    return lib;
  }

  async remove(id: string): Promise<void> {
    const lib = this.libs.get(id);
    if (!lib) return;
    await lib.close();
    this.libs.delete(id);
    for (const suffix of ['', '-wal', '-shm']) rmSync(lib.path + suffix, { force: true });
    if (this.config.current === id) {
      const next = [...this.libs.keys()][0];
      if (next) this.setCurrent(next);
      else this.config = {};
    }
  }

  setCurrent(id: string): void {
    this.config.current = id;
    writePrivateFile(this.configPath, JSON.stringify(this.config, null, 2));
  }

  async closeAll(): Promise<void> {
    for (const lib of this.libs.values()) await lib.close();
    this.libs.clear();
  }
}
