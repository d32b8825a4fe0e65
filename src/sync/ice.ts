// The ICE servers WebRTC links use to cross NATs: STUN to learn our public address, TURN (coturn)
// to relay when no direct path exists. `sd config set ice.servers stun:host:3478,turn:user:pass@host:3478`
// (and `turns:` for TURN over TLS); a TURN URL without credentials takes time-limited ones minted
// from coturn's `static-auth-secret` (`ice.turn-secret`, the "TURN REST API" scheme: the user name
// is `expiry:name`, the password base64(HMAC-SHA1(secret, user name))). A node with `ice.share on`
// hands its servers to the members it links with, minted credentials included, never the secret.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { SdError } from '../errors.js';
import { pack, unpack } from '../events/codec.js';
import type { RtcIceServer } from '../transport/webrtc.js';

export type IceKind = 'stun' | 'turn' | 'turns';

export interface IceUrl {
  kind: IceKind;
  host: string;
  port: number;
  username?: string;
  password?: string;
  transport?: 'udp' | 'tcp';
}

const URL_RE =
  /^(stun|turn|turns):(?:([^:@\s,]+):([^@\s,]+)@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

export function parseIceUrl(raw: string): IceUrl | undefined {
  const m = URL_RE.exec(raw.trim());
  if (!m) return undefined;
  const kind = m[1] as IceKind;
  const port = m[5] ? Number(m[5]) : kind === 'turns' ? 5349 : 3478;
  if (port < 1 || port > 65535) return undefined;
  if (kind === 'stun' && (m[2] || m[6])) return undefined;
  const u: IceUrl = { kind, host: m[4]!.replace(/^\[|\]$/g, ''), port };
  if (m[2]) {
    u.username = decodeURIComponent(m[2]);
    u.password = decodeURIComponent(m[3]!);
  }
  if (m[6]) u.transport = m[6] as 'udp' | 'tcp';
  return u;
}

/** A comma-separated list (`sd config set ice.servers ...`); empty or `none` is no server. */
export function parseIceServers(list: string): IceUrl[] {
  const v = list.trim();
  if (v === '' || v === 'none') return [];
  const out: IceUrl[] = [];
  for (const part of v.split(',')) {
    const u = parseIceUrl(part);
    if (!u)
      throw new SdError(
        'E_BAD_INPUT',
        `"${part.trim()}" is not a STUN or TURN URL (stun:host:port, turn:user:pass@host:port, turns:..., turn:host:port with ice.turn-secret)`,
      );
    out.push(u);
  }
  if (out.length > 8) throw new SdError('E_BAD_INPUT', 'at most 8 ICE servers');
  return out;
}

/** As typed, with the password hidden unless `reveal`. */
export function formatIceUrl(u: IceUrl, reveal = false): string {
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  const cred = u.username
    ? `${encodeURIComponent(u.username)}:${reveal ? encodeURIComponent(u.password ?? '') : '***'}@`
    : '';
  return `${u.kind}:${cred}${host}:${u.port}${u.transport ? `?transport=${u.transport}` : ''}`;
}

/** coturn's time-limited credentials (`use-auth-secret`) for `name`, valid `ttlSec` from `nowMs`. */
export function restCredentials(
  secret: string,
  name: string,
  ttlSec: number,
  nowMs = Date.now(),
): { username: string; password: string; expires: number } {
  const expiry = Math.floor(nowMs / 1000) + ttlSec;
  const username = `${expiry}:${name}`;
  const password = createHmac('sha1', secret).update(username).digest('base64');
  return { username, password, expires: expiry * 1000 };
}

export function toRtcServers(list: IceUrl[]): RtcIceServer[] {
  return list.flatMap((u): RtcIceServer[] => {
    if (u.kind === 'stun') return [{ hostname: u.host, port: u.port }];
    if (!u.username || u.password === undefined) return [];
    const relayType = u.kind === 'turns' ? 'TurnTls' : u.transport === 'tcp' ? 'TurnTcp' : 'TurnUdp';
    return [{ hostname: u.host, port: u.port, username: u.username, password: u.password, relayType }];
  });
}

/** For a search of direct paths only: every server asked as STUN (coturn answers STUN on its TURN port). */
export function stunOnly(list: IceUrl[]): IceUrl[] {
  const seen = new Set<string>();
  return list
    .filter((u) => u.kind !== 'turns' && u.transport !== 'tcp')
    .map((u) => ({ kind: 'stun' as const, host: u.host, port: u.port }))
    .filter((u) => !seen.has(`${u.host}:${u.port}`) && !!seen.add(`${u.host}:${u.port}`));
}

/** Minted credentials live a day; a node hands fresh ones to each member at least twice a day. */
export const SHARED_TTL_SEC = 24 * 3600;

const Shared = z.object({
  t: z.literal('ice'),
  servers: z
    .array(
      z.object({
        kind: z.enum(['stun', 'turn', 'turns']),
        host: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/),
        port: z.number().int().min(1).max(65535),
        username: z.string().max(512).optional(),
        password: z.string().max(512).optional(),
        transport: z.enum(['udp', 'tcp']).optional(),
      }),
    )
    .max(8),
  expires: z.number(),
});

export function encodeShared(servers: IceUrl[], expires: number): Uint8Array {
  return pack({ t: 'ice', servers, expires });
}

export function decodeShared(bytes: Uint8Array): { servers: IceUrl[]; expires: number } | undefined {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch {
    return undefined;
  }
  if ((v as { t?: unknown } | undefined)?.t !== 'ice') return undefined;
  const r = Shared.safeParse(v);
  return r.success ? { servers: r.data.servers as IceUrl[], expires: r.data.expires } : undefined;
}

export interface IceSettings {
  servers: IceUrl[];
  secret?: string;
  share: boolean;
}

/** The servers this device uses: its own (credentials minted when it holds the secret) and those members handed it. */
export class IceConfig {
  private readonly handed = new Map<string, { servers: IceUrl[]; expires: number }>();

  constructor(
    private settings: IceSettings,
    private readonly self: string,
  ) {}

  update(settings: IceSettings): void {
    this.settings = settings;
  }

  private mint(list: IceUrl[], name: string, now: number): { servers: IceUrl[]; expires: number } {
    let expires = now + 365 * 24 * 3600_000;
    const servers = list.flatMap((u) => {
      if (u.kind === 'stun' || u.username) return [u];
      if (!this.settings.secret) return [];
      const c = restCredentials(this.settings.secret, name, SHARED_TTL_SEC, now);
      expires = Math.min(expires, c.expires);
      return [{ ...u, username: c.username, password: c.password }];
    });
    return { servers, expires };
  }

  /** What a WebRTC session of ours uses now. */
  servers(now = Date.now()): IceUrl[] {
    const out = this.mint(this.settings.servers, this.self, now).servers;
    for (const [dev, h] of this.handed) {
      if (h.expires <= now) {
        this.handed.delete(dev);
        continue;
      }
      out.push(...h.servers);
    }
    const seen = new Set<string>();
    return out.filter((u) => {
      const k = `${u.kind}:${u.host}:${u.port}:${u.transport ?? ''}`;
      return !seen.has(k) && !!seen.add(k);
    });
  }

  /** What we hand member `dev` (undefined: we share nothing). */
  forMember(dev: string, now = Date.now()): { servers: IceUrl[]; expires: number } | undefined {
    if (!this.settings.share || this.settings.servers.length === 0) return undefined;
    const m = this.mint(this.settings.servers, dev, now);
    return m.servers.length ? m : undefined;
  }

  /** Servers a member handed us (replacing what it handed before). */
  /** What member `from` handed us last, if anything. */
  handedFrom(from: string): { servers: IceUrl[]; expires: number } | undefined {
    return this.handed.get(from);
  }

  receive(from: string, shared: { servers: IceUrl[]; expires: number }): void {
    this.handed.set(from, shared);
  }

  /** Who handed us servers, and until when (for `sd sync status`). */
  handedBy(): { device: string; servers: string[]; expires: number }[] {
    return [...this.handed].map(([device, h]) => ({
      device,
      servers: h.servers.map((u) => formatIceUrl(u)),
      expires: h.expires,
    }));
  }
}
