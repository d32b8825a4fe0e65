// What this device calls its libraries. A library's name is shared (an event renames it on every
// member), but two libraries of one device may share a name: one joined from a peer, or renamed
// there. Such a library gets a local alias, "family (2)", kept in the data dir's config only.
import type { Db } from './library.js';
import { decodeEvent } from '../events/codec.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../errors.js';

/** The local alias of one library, and the shared name it was made for. */
export interface Alias {
  alias: string;
  of: string;
}

/** The aliases a data dir's config holds (for tools that run without a daemon); none when unreadable. */
export function readAliases(dataDir: string): Record<string, Alias> {
  try {
    const c = JSON.parse(readFileSync(join(dataDir, 'config.json'), 'utf8')) as { aliases?: Record<string, Alias> };
    return c.aliases && typeof c.aliases === 'object' ? c.aliases : {};
  } catch {
    return {};
  }
}

/** A library as this device names it. */
export interface LibraryName {
  id: string;
  /** What commands and lists here call it: the alias, or the shared name. */
  name: string;
  /** The name every member sees (events rename it). */
  sharedName: string;
  alias: string | null;
}

/** The libraries of a data dir, open or locked, as the names need them. */
export interface NamedLibraries {
  ids(): string[];
  sharedName(id: string): string;
}

/** The longest name a command accepts; an alias stays within it. */
const MAX_NAME = 200;

/** Cuts a name to `max` UTF-16 units without splitting a character. */
function cut(name: string, max: number): string {
  if (name.length <= max) return name;
  const chars = Array.from(name);
  let out = '';
  for (const c of chars) {
    if (out.length + c.length > max) break;
    out += c;
  }
  return out;
}

/**
 * The first of "name (2)", "name (3)"... that nothing in `taken` uses. A name that already ends
 * in " (N)" counts on from N, as a file manager numbers copies: "family (2)" -> "family (3)".
 */
export function freeAlias(name: string, taken: ReadonlySet<string>): string {
  const m = /^(.*) \((\d{1,6})\)$/s.exec(name);
  const base = m ? m[1]! : name;
  const first = m ? Number(m[2]) + 1 : 2;
  // Bounded: among taken.size + 1 numbers one is free.
  for (let n = first; n <= first + taken.size; n++) {
    const suffix = ` (${n})`;
    const alias = cut(base, MAX_NAME - suffix.length) + suffix;
    if (!taken.has(alias)) return alias;
  }
  throw new Error('unreachable: no free alias');
}

/** Events that leave a library as its first start made it: creation, its documents, device renames. */
const UNTOUCHED = new Set(['library.created', 'shared.created', 'device.renamed']);

/**
 * Whether `db` is a library this device made at its first start and never used: every event is
 * this device's, and is its creation, its shared documents' creation or a device rename (with the
 * audit of that rename). A library made with `sd library create` has the audit of that command,
 * and anything done in it (a location, a tag, a rename, a member) leaves an event of its own.
 */
export function untouchedFirstLibrary(db: Db, me: string): boolean {
  const rows = db.prepare('SELECT dev, type, bytes FROM events ORDER BY dev, seq LIMIT 201').all() as {
    dev: string;
    type: string;
    bytes: Buffer;
  }[];
  if (rows.length === 0 || rows.length > 200) return false;
  if (!rows.some((r) => r.type === 'library.created' && r.dev === me)) return false;
  return rows.every((r) => {
    if (r.dev !== me) return false;
    if (UNTOUCHED.has(r.type)) return true;
    if (r.type !== 'command.verified') return false;
    try {
      return (decodeEvent(r.bytes).body as { command?: unknown }).command === 'device.rename';
    } catch {
      return false;
    }
  });
}

/** Local names over a data dir's libraries; aliases live in its config (`aliases()`), saved by `save()`. */
export class LocalNames {
  constructor(
    private readonly aliases: () => Record<string, Alias>,
    private readonly libs: NamedLibraries,
    private readonly save: () => void,
  ) {}

  /** The name a library has here: its alias, or its shared name. */
  nameOf(id: string): string {
    return this.aliases()[id]?.alias ?? this.libs.sharedName(id);
  }

  naming(id: string): LibraryName {
    const alias = this.aliases()[id]?.alias ?? null;
    const sharedName = this.libs.sharedName(id);
    return { id, name: alias ?? sharedName, sharedName, alias };
  }

  /**
   * Gives a library its shared name when no other library here is called that, and otherwise an
   * alias: the one it has if it was made for this shared name and is still free, else a new one
   * that is neither another library's name nor its shared name. Called when the library's shared
   * name arrives or changes, and when it is adopted.
   */
  settle(id: string): void {
    const ids = this.libs.ids();
    if (!ids.includes(id)) return;
    const shared = this.libs.sharedName(id);
    const shown = new Set<string>();
    const avoid = new Set<string>();
    for (const other of ids)
      if (other !== id) {
        shown.add(this.nameOf(other));
        avoid.add(this.nameOf(other)).add(this.libs.sharedName(other));
      }
    const aliases = this.aliases();
    const had = aliases[id];
    if (!shown.has(shared)) delete aliases[id];
    else if (!(had && had.of === shared && !shown.has(had.alias)))
      aliases[id] = { alias: freeAlias(shared, avoid), of: shared };
    if (JSON.stringify(had) !== JSON.stringify(aliases[id])) this.save();
  }

  /**
   * At start (and for names from before aliases): a library keeps an alias made for its current
   * shared name; the others take their shared name in turn, the current library first and then by
   * id, or get an alias when it is taken.
   */
  settleAll(current: string | undefined): void {
    const aliases = this.aliases();
    const before = JSON.stringify(aliases);
    const ids = this.libs.ids().sort();
    // Aliases of libraries gone, or that a hand-edited config.json made unreadable, are dropped.
    for (const [id, a] of Object.entries(aliases))
      if (!ids.includes(id) || typeof a?.alias !== 'string' || typeof a.of !== 'string' || a.alias === '')
        delete aliases[id];
    const taken = new Set<string>();
    const rest: string[] = [];
    for (const id of ids) {
      const a = aliases[id];
      if (a && a.of === this.libs.sharedName(id) && !taken.has(a.alias)) taken.add(a.alias);
      else rest.push(id);
    }
    rest.sort((x, y) => Number(y === current) - Number(x === current));
    for (const id of rest) {
      const shared = this.libs.sharedName(id);
      if (taken.has(shared)) {
        const avoid = new Set(taken);
        for (const other of ids) if (other !== id) avoid.add(this.libs.sharedName(other));
        aliases[id] = { alias: freeAlias(shared, avoid), of: shared };
      } else delete aliases[id];
      taken.add(this.nameOf(id));
    }
    if (JSON.stringify(aliases) !== before) this.save();
  }

  forget(id: string): void {
    delete this.aliases()[id];
  }

  /** By id, by the name it has here, by its shared name when one library has it, or by a unique id prefix. */
  resolveId(ref: string): string {
    const ids = this.libs.ids();
    if (ids.includes(ref)) return ref;
    const shown = ids.filter((id) => this.nameOf(id) === ref);
    if (shown.length === 1) return shown[0]!;
    const shared = ids.filter((id) => this.libs.sharedName(id) === ref);
    if (shared.length === 1) return shared[0]!;
    if (shared.length > 1) throw this.ambiguous(shared, `share the name "${ref}"`);
    const byPrefix = ref.length >= 4 ? ids.filter((id) => id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw this.ambiguous(byPrefix, `have an id starting with "${ref}"`);
    throw new SdError('E_LIBRARY_NOT_FOUND', `no library named or with id "${ref}" (see \`sd library list\`)`);
  }

  private ambiguous(ids: string[], what: string): SdError {
    const which = ids.map((id) => `"${this.nameOf(id)}" (${id.slice(0, 8)})`).join(', ');
    return new SdError('E_AMBIGUOUS_LIBRARY', `${ids.length} libraries ${what}; use one of ${which}`);
  }

  /** The library called `name` here (alias or shared name), open or locked. */
  findByName(name: string): LibraryName | undefined {
    const id = this.libs.ids().find((i) => this.nameOf(i) === name);
    return id === undefined ? undefined : this.naming(id);
  }
}
