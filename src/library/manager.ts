// The libraries of one data dir: `<data>/libraries/<uuid>.db`, and which one is current.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';
import { ensurePrivateDir, writePrivateFile } from '../fsutil.js';
import type { DeviceIdentity } from '../identity.js';
import { Library, LIBRARY_FORMAT } from './library.js';
import { libraryIdFor } from '../projections/roster.js';
import { deriveKey, keepKeyInfoName, newKeyInfo, readKeyInfo, writeKeyInfo } from './crypto.js';

interface Config {
  current?: string;
}

export class LibraryManager {
  private readonly libs = new Map<string, Library>();
  private readonly dir: string;
  private readonly configPath: string;
  private config: Config = {};
  private readonly openHooks: ((lib: Library) => void)[] = [];
  /** Encrypted libraries not unlocked yet: id -> [path, name]. */
  readonly locked = new Map<string, { path: string; name: string }>();

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
    if (ref === undefined || ref === '') ref = this.currentId;
    const byId = this.libs.get(ref);
    if (byId) return byId;
    const locked = [...this.locked].find(
      ([id, l]) => id === ref || l.name === ref || (ref!.length >= 4 && id.startsWith(ref!)),
    );
    if (locked)
      throw new SdError(
        'E_LIBRARY_LOCKED',
        `the library "${locked[1].name}" is encrypted and locked; unlock it with \`sd library unlock ${locked[1].name}\` (or SD_LIBRARY_PASSPHRASE)`,
      );
    const byName = this.list().filter((l) => l.name === ref);
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1)
      throw new SdError('E_AMBIGUOUS_LIBRARY', `${byName.length} libraries are named "${ref}"; use the id`);
    const byPrefix = ref.length >= 4 ? [...this.libs.values()].filter((l) => l.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    throw new SdError('E_LIBRARY_NOT_FOUND', `no library named or with id "${ref}" (see \`sd library list\`)`);
  }

  findByName(name: string): Library | undefined {
    return this.list().find((l) => l.name === name);
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
    return lib;
  }

  /** A library this device joins: no events of its own yet; its history arrives from peers. */
  async join(id: string, inviter: { dev: string; pubkey: Uint8Array }): Promise<Library> {
    if (this.libs.has(id)) return this.libs.get(id)!;
    const lib = Library.open(join(this.dir, `${id}.db`), id, this.device, { create: true });
    // The inviter's key, learnt when pairing, verifies its feed until the roster arrives.
    lib.db.prepare('INSERT OR REPLACE INTO trust_anchors (dev, pubkey) VALUES (?, ?)').run(inviter.dev, inviter.pubkey);
    await lib.ensureShared(this.device.id);
    this.attach(lib);
    return lib;
  }

  async remove(id: string): Promise<void> {
    const lib = this.libs.get(id);
    if (!lib) return;
    await lib.close();
    this.libs.delete(id);
    for (const suffix of ['', '-wal', '-shm']) rmSync(lib.path + suffix, { force: true });
    rmSync(lib.path.replace(/\.db$/, '.keyinfo'), { force: true });
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
    for (const lib of this.libs.values()) {
      keepKeyInfoName(lib.path, lib.name); // a rename that came from a peer shows while locked too
      await lib.close();
    }
    this.libs.clear();
  }
}
