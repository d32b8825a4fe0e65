// Device commands and queries: this device's name; the roster of the library.
import { z } from 'zod';
import { check, defineCommand, defineQuery } from '../define.js';
import { Name } from '../names.js';
import { fingerprint } from '../../events/keys.js';
import { saveDeviceName } from '../../identity.js';

export const renameDevice = defineCommand({
  name: 'device.rename',
  summary: 'rename this device (recorded in every library)',
  input: z.object({ name: Name }),
  preview: ({ core }, { name }) => ({
    summary: `rename this device "${core.device.name}" to "${name}"`,
    changes: core.libraries.list().map((l) => ({
      op: 'update',
      target: `device ${core.device.id.slice(0, 8)} in library "${l.name}"`,
      detail: `"${core.device.name}" -> "${name}"`,
    })),
  }),
  commit: ({ core }, plan) => {
    const name = plan.input.name;
    // The library of --library first, so the audit records the verify there.
    const libs = [
      core.libraries.resolve(plan.library ?? undefined),
      ...core.libraries.list().filter((l) => l.id !== plan.library),
    ];
    for (const lib of libs) lib.write(() => lib.append('device.renamed', { name }));
    saveDeviceName(core.dataDir, name);
    core.device.name = name;
    return { name };
  },
  verify: ({ core }, plan) =>
    core.libraries.list().map((l) => {
      const row = l.ro.prepare('SELECT name FROM devices WHERE dev = ?').get(core.device.id) as
        { name: string } | undefined;
      return check(row?.name === plan.input.name, `device name in library "${l.name}"`, row?.name);
    }),
});

export const listDevices = defineQuery({
  name: 'device.list',
  summary: 'the devices of the library',
  input: z.object({}),
  run: ({ core, db }) => {
    const rows = db.prepare('SELECT dev, pubkey, name, added_at, revoked_at FROM devices ORDER BY name, dev').all() as {
      dev: string;
      pubkey: Buffer;
      name: string;
      added_at: number;
      revoked_at: number | null;
    }[];
    const seen = db.prepare('SELECT MAX(hlc_ms) AS t, MAX(seq) AS seq FROM events WHERE dev = ?');
    return rows.map((r) => {
      const s = seen.get(r.dev) as { t: number | null; seq: number | null };
      const self = r.dev === core.device.id;
      const net = core.peers?.online(r.dev) ?? { online: false, link: null, path: null, rttMs: null, since: null };
      return {
        id: r.dev,
        name: r.name,
        fingerprint: fingerprint(new Uint8Array(r.pubkey)),
        self,
        online: self || net.online,
        link: self ? 'local' : net.link,
        path: self ? null : net.path,
        rttMs: self ? null : net.rttMs,
        linkedSince: self ? null : net.since,
        lastSeen: self ? Date.now() : s.t,
        events: s.seq ?? 0,
        addedAt: r.added_at,
        revokedAt: r.revoked_at,
      };
    });
  },
});
