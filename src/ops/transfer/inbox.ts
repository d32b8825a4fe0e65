// sd inbox list / accept / reject: drops other devices offered (`sd send`) to this device's inbox.
// Accepting is this device's own command: it fetches exactly what was offered into the inbox
// (a free name for anything already there: a drop never overwrites), recorded in its own log as
// "received from <device>".
import { basename, join } from 'node:path';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import type { Library } from '../../library/library.js';
import type { TransferInput } from '../../transfer/job.js';
import { dropsOf, inboxOf, type Drop } from '../../transfer/service.js';
import { check, defineCommand, defineQuery } from '../define.js';
import { freeName, lstat, place } from '../entry/paths.js';
import { peersOn } from './pull.js';
import type { ReadonlyLibrary } from '../host.js';

function findDrop(lib: ReadonlyLibrary, ref: string): Drop {
  const hit = dropsOf(lib).filter((d) => d.id === ref || (ref.length >= 4 && d.id.startsWith(ref)));
  if (hit.length === 1) return hit[0]!;
  if (hit.length > 1) throw new SdError('E_AMBIGUOUS_DROP', `"${ref}" matches several drops; use more of the id`);
  throw new SdError('E_DROP_NOT_FOUND', `no drop "${ref}" in the inbox (see \`sd inbox list\`)`);
}

const nameOf = (lib: ReadonlyLibrary, dev: string): string =>
  (lib.db.prepare('SELECT name FROM devices WHERE dev = ?').get(dev) as { name: string } | undefined)?.name ??
  dev.slice(0, 8);

export const listInbox = defineQuery({
  name: 'inbox.list',
  summary: 'drops offered to this device, newest first',
  input: z.object({}),
  run: ({ core, lib }) => {
    const inbox = inboxOf(lib, core.device.id);
    return {
      inbox: inbox ? { path: inbox.path, accept: inbox.accept } : null,
      drops: dropsOf(lib).map((d) => ({ ...d, from: nameOf(lib, d.peer) })),
    };
  },
});

export const acceptDrop = defineCommand({
  name: 'inbox.accept',
  summary: 'fetch a drop offered to this device into its inbox',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ core, lib }, { ref }) => {
    peersOn(core);
    const d = findDrop(lib, ref);
    if (d.state !== 'pending') throw new SdError('E_DROP_STATE', `drop ${d.id.slice(0, 8)} is ${d.state}, not pending`);
    const inbox = inboxOf(lib, core.device.id);
    if (!inbox) throw new SdError('E_NO_INBOX', 'this device has no inbox (`sd location add PATH --inbox`)');
    const from = nameOf(lib, d.peer);
    const taken = new Set<string>();
    const items = d.items.map((it) => {
      const plain = join(inbox.path, basename(it.path));
      const dest = lstat(plain) || taken.has(plain) ? freeName(inbox.path, basename(it.path), taken) : plain;
      taken.add(dest);
      const p = place(lib.db, core.device.id, dest);
      return { src: it.path, dest: p.abs, key: p.key, overwrite: false };
    });
    const data: TransferInput = {
      via: 'inbox',
      command: 'inbox.accept',
      peer: d.peer,
      peerName: from,
      lib: lib.id,
      root: inbox.path,
      loc: inbox.id,
      grant: d.id,
      drop: d.id,
      items,
    };
    return {
      summary: `receive ${items.length} item(s) (${d.files} file(s), ${d.bytes} bytes) from "${from}" into ${inbox.path}`,
      changes: items.map((i, k) => ({
        op: 'receive',
        target: i.dest,
        detail: `from "${from}": ${i.src}`,
        bytes: d.items[k]!.bytes,
      })),
      data,
    };
  },
  commit: ({ core, lib }, plan) => {
    const d = plan.data!;
    const job = core.jobs!.enqueue(lib, 'transfer', d.loc, d);
    lib.db.prepare("UPDATE inbox_drops SET state = 'accepted', job = ? WHERE id = ?").run(job.id, d.drop);
    return { job: job.id, drop: d.drop };
  },
  verify: ({ lib }, plan, r) => [
    check(findDrop(lib, plan.data!.drop!).state !== 'pending', 'the drop is accepted'),
    check(!!lib.db.prepare('SELECT 1 FROM jobs WHERE id = ?').get(r.job), 'the transfer job is queued'),
  ],
});

export const rejectDrop = defineCommand({
  name: 'inbox.reject',
  summary: 'refuse a drop offered to this device (nothing is fetched)',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ lib }, { ref }) => {
    const d = findDrop(lib, ref);
    if (d.state !== 'pending') throw new SdError('E_DROP_STATE', `drop ${d.id.slice(0, 8)} is ${d.state}, not pending`);
    return {
      summary: `reject drop ${d.id.slice(0, 8)} from "${nameOf(lib, d.peer)}" (${d.files} file(s), ${d.bytes} bytes)`,
      changes: [{ op: 'reject', target: `drop ${d.id}`, detail: 'nothing is fetched' }],
      data: { id: d.id },
    };
  },
  commit: ({ core, lib }, plan) => {
    if (core.transfers) core.transfers.dropEnded(lib, plan.data!.id, 'rejected');
    else lib.db.prepare("UPDATE inbox_drops SET state = 'rejected' WHERE id = ?").run(plan.data!.id);
    return { id: plan.data!.id };
  },
  verify: ({ lib }, plan) => [check(findDrop(lib, plan.data!.id).state === 'rejected', 'the drop is rejected')],
});
