// Where each device can be reached: addresses given by `sd peer add`, learnt when pairing, told by
// the device itself over its link, or told by another member. Kept in `peers.json` (0600) so a
// restarted daemon dials them again. Members tell each other their listening addresses (and those
// they know of other members) on the `ctl` channel, so every member can link to every other.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { pack, unpack } from '../events/codec.js';
import { writePrivateFile } from '../fsutil.js';

export type AddressSource = 'manual' | 'invite' | 'self' | 'member' | 'mdns';

export interface BookEntry {
  host: string;
  port: number;
  dev?: string;
  source?: AddressSource;
  /** When the device was last reached there (ms). */
  seen?: number;
}

const Host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:_%-]+$/, 'a host name or address');
const Port = z.number().int().min(1).max(65535);
const Entry = z.object({
  host: Host,
  port: Port,
  dev: z
    .string()
    .regex(/^[a-z2-7]{32}$/)
    .optional(),
  source: z.enum(['manual', 'invite', 'self', 'member', 'mdns']).optional(),
  seen: z.number().optional(),
});

/** The `ctl` message a device sends when a link comes up: where it listens, and where members are. */
const AddrsMessage = z.object({
  t: z.literal('addrs'),
  port: Port.nullable(),
  hosts: z.array(Host).max(16),
  book: z.array(z.object({ dev: z.string().regex(/^[a-z2-7]{32}$/), host: Host, port: Port })).max(64),
});
export type AddrsMessage = z.infer<typeof AddrsMessage>;

export function encodeAddrs(m: Omit<AddrsMessage, 't'>): Uint8Array {
  return pack({ t: 'addrs', ...m });
}

/** The message if it is an address message (anything else on `ctl` is someone else's). */
export function decodeAddrs(bytes: Uint8Array): AddrsMessage | undefined {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch {
    return undefined;
  }
  if ((v as { t?: unknown } | undefined)?.t !== 'addrs') return undefined;
  const r = AddrsMessage.safeParse(v);
  return r.success ? r.data : undefined;
}

/** At most this many addresses are kept per device (the newest), and this many devices learnt from others. */
const PER_DEVICE = 8;
const MAX_ENTRIES = 2048;

export class AddressBook {
  private entries: BookEntry[];

  constructor(private readonly file: string) {
    this.entries = this.load();
  }

  private load(): BookEntry[] {
    if (!existsSync(this.file)) return [];
    try {
      const raw = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return Array.isArray(raw) ? raw.flatMap((e) => (Entry.safeParse(e).success ? [e as BookEntry] : [])) : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    // Learnt addresses are a cache (pairing, members and the devices themselves tell them again):
    // only an address the user gave is worth an fsync, which a join otherwise waits for.
    const durable = this.entries.some((e) => e.source === 'manual');
    writePrivateFile(this.file, JSON.stringify(this.entries, null, 2), { durable });
  }

  list(): BookEntry[] {
    return [...this.entries];
  }

  of(dev: string): BookEntry[] {
    return this.entries.filter((e) => e.dev === dev);
  }

  /** Records an address; returns true when it is new for that device. */
  add(e: BookEntry): boolean {
    const same = (x: BookEntry): boolean => x.host === e.host && x.port === e.port;
    const old = this.entries.find(same);
    if (old && (old.dev === e.dev || !e.dev)) {
      if (e.seen) old.seen = e.seen;
      // A manual address keeps its source; others are upgraded to the better-known one.
      if (e.source === 'manual' || e.source === 'invite') old.source = e.source;
      this.save();
      return false;
    }
    this.entries = this.entries.filter((x) => !same(x));
    this.entries.push(e);
    if (e.dev) {
      const mine = this.entries.filter((x) => x.dev === e.dev);
      if (mine.length > PER_DEVICE) {
        const drop = new Set(mine.sort((a, b) => (a.seen ?? 0) - (b.seen ?? 0)).slice(0, mine.length - PER_DEVICE));
        this.entries = this.entries.filter((x) => !drop.has(x));
      }
    }
    if (this.entries.length > MAX_ENTRIES) this.entries = this.entries.slice(-MAX_ENTRIES);
    this.save();
    return true;
  }

  /** Forgets a device's addresses (all, or one); returns the entries removed. */
  remove(match: { dev?: string; host?: string; port?: number }): BookEntry[] {
    const hit = (x: BookEntry): boolean =>
      (match.dev === undefined || x.dev === match.dev) &&
      (match.host === undefined || x.host === match.host) &&
      (match.port === undefined || x.port === match.port);
    const gone = this.entries.filter(hit);
    this.entries = this.entries.filter((x) => !hit(x));
    if (gone.length) this.save();
    return gone;
  }
}
