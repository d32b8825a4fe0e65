// Who may do what in a library: revoking a device (or leaving), and the creator naming admins.
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { PreviewHost, ReadonlyLibrary } from '../host.js';
import { check, defineCommand } from '../define.js';
import { resolveDevice } from '../log/queries.js';

/** Refuses unless this device may add and revoke devices here: the creator, or an admin it named. */
export function requireAdmin(core: PreviewHost, lib: ReadonlyLibrary, what: string): void {
  const me = lib.db.prepare('SELECT role FROM devices WHERE dev = ?').get(core.device.id) as
    { role: string } | undefined;
  if (me?.role === 'creator' || me?.role === 'admin') return;
  const creator = lib.db.prepare("SELECT d.name FROM devices d WHERE d.role = 'creator'").get() as
    { name: string } | undefined;
  throw new SdError(
    'E_NOT_ADMIN',
    `only the library's creator${creator ? ` ("${creator.name}")` : ''} and the devices it made admins can ${what}; there, run \`sd device role ${core.device.name} admin\` to make this device one`,
  );
}

export const revokeDevice = defineCommand({
  name: 'device.revoke',
  summary: 'revoke a device (or this one, to leave): its later events are refused everywhere, its earlier ones kept',
  input: z.object({ device: z.string().min(1) }),
  preview: ({ core, lib }, { device }) => {
    const dev = resolveDevice(lib.db, device);
    const self = dev === core.device.id;
    const row = lib.db.prepare('SELECT name, role, revoked_at FROM devices WHERE dev = ?').get(dev) as {
      name: string;
      role: string;
      revoked_at: number | null;
    };
    if (row.revoked_at) throw new SdError('E_ALREADY_REVOKED', `device "${row.name}" is already revoked`);
    if (!self) {
      if (row.role === 'creator')
        throw new SdError('E_NOT_ALLOWED', `"${row.name}" created this library: only it can revoke itself`);
      requireAdmin(core, lib, 'revoke other devices');
    }
    const upTo = lib.log.headOf(dev).seq;
    return {
      summary: self
        ? `revoke this device "${row.name}" in "${lib.name}" (leave the library)`
        : `revoke device "${row.name}" (${dev.slice(0, 8)})`,
      changes: [
        {
          op: 'revoke',
          target: `device "${row.name}"`,
          detail: self
            ? 'this device stops syncing this library; its events so far stay'
            : `its ${upTo} events so far stay; later ones are refused`,
        },
      ],
      confirm: self ? `Revoke this device and leave "${lib.name}"?` : `Revoke device "${row.name}"?`,
      data: { dev, upTo },
    };
  },
  commit: ({ lib }, plan) =>
    lib.write(() => lib.append('device.revoked', { dev: plan.data!.dev, upTo: plan.data!.upTo })).seq,
  verify: ({ core, lib }, plan) => [
    check(
      !!(
        lib.db.prepare('SELECT revoked_at FROM devices WHERE dev = ?').get(plan.data!.dev) as
          { revoked_at: number | null } | undefined
      )?.revoked_at,
      'the device is revoked',
    ),
    check(
      plan.data!.dev === core.device.id || !core.peers?.online(plan.data!.dev).online,
      'the device is disconnected',
    ),
  ],
});

export const setDeviceRole = defineCommand({
  name: 'device.role',
  summary: 'make a device an admin (it may add and revoke devices) or a plain member; the creator only',
  input: z.object({ device: z.string().min(1), role: z.enum(['admin', 'member']) }),
  preview: ({ core, lib }, { device, role }) => {
    const dev = resolveDevice(lib.db, device);
    const me = lib.db.prepare('SELECT role FROM devices WHERE dev = ?').get(core.device.id) as
      { role: string } | undefined;
    if (me?.role !== 'creator') throw new SdError('E_NOT_CREATOR', "only the library's creator names admins");
    const row = lib.db.prepare('SELECT name, role FROM devices WHERE dev = ?').get(dev) as {
      name: string;
      role: string;
    };
    if (row.role === 'creator') throw new SdError('E_NOT_ALLOWED', "the creator's role is fixed");
    return {
      summary: `make "${row.name}" ${role === 'admin' ? 'an admin' : 'a plain member'}`,
      changes: [{ op: 'update', target: `device "${row.name}"`, detail: `${row.role} -> ${role}` }],
      data: { dev },
    };
  },
  commit: ({ lib }, plan) =>
    lib.write(() => lib.append('device.role', { dev: plan.data!.dev, role: plan.input.role })).seq,
  verify: ({ lib }, plan) => {
    const row = lib.db.prepare('SELECT role FROM devices WHERE dev = ?').get(plan.data!.dev) as { role: string };
    return [
      check(row.role === plan.input.role, `the device is ${plan.input.role === 'admin' ? 'an admin' : 'a member'}`),
    ];
  },
});
