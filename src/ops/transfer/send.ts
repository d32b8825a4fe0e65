// sd send PATH... --device D: offers files to D's inbox. Nothing is written on D by this device:
// D's daemon fetches what was offered (a grant for exactly these paths) as its own command, into
// the location its owner marked `--inbox`, at once (`--accept members`) or once accepted (`ask`).
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { codeOf } from '../../error-codes.js';
import { inboxOf } from '../../transfer/service.js';
import { check, defineCommand, type PlanChange } from '../define.js';
import { place } from '../entry/paths.js';
import { manifestOf } from '../entry/steps.js';
import { otherDevice, peersOn } from './pull.js';

const OFFER_TIMEOUT_MS = 30_000;

export const sendEntries = defineCommand({
  name: 'transfer.send',
  summary: "offer files or folders to another device's inbox",
  input: z.object({ device: z.string().min(1), paths: z.array(z.string().min(1)).min(1).max(1000) }),
  preview: async ({ core, lib }, input) => {
    peersOn(core);
    const { dev, name } = otherDevice(core, lib, input.device);
    const inbox = inboxOf(lib, dev);
    if (!inbox)
      throw new SdError(
        'E_NO_INBOX',
        `"${name}" has no inbox, so nothing can be sent to it; on "${name}", run \`sd location add ~/Inbox --inbox\``,
      );
    const items: { path: string; files: number; bytes: number }[] = [];
    const changes: PlanChange[] = [];
    for (const p of input.paths) {
      const pl = place(lib.db, core.device.id, p, { allowRoot: true });
      const m = await manifestOf(pl.loc.path, pl.abs, false);
      items.push({ path: pl.abs, files: m.files, bytes: m.bytes });
      changes.push({
        op: 'send',
        target: pl.abs,
        detail: `${m.files} file(s) to the inbox of "${name}"`,
        bytes: m.bytes,
      });
    }
    const files = items.reduce((n, i) => n + i.files, 0);
    const bytes = items.reduce((n, i) => n + i.bytes, 0);
    return {
      summary: `send ${items.length} item(s) (${files} file(s), ${bytes} bytes) to "${name}" (inbox ${inbox.path}, ${inbox.accept === 'ask' ? 'it asks its owner first' : 'accepted from members'})`,
      changes,
      data: { dev, name, items },
    };
  },
  commit: async ({ core, lib }, plan) => {
    const { dev, name, items } = plan.data!;
    const link = core.peers?.linkTo(dev);
    if (!link)
      throw new SdError(
        'E_DEVICE_OFFLINE',
        `"${name}" is not connected now; send again when it is (see \`sd peer list\`)`,
      );
    const tx = core.transfers!;
    const drop = tx.createGrant(
      lib,
      dev,
      items.map((i) => i.path),
    );
    const port = tx.attach(link);
    try {
      const state = await new Promise<'accepted' | 'queued'>((resolve, reject) => {
        const timer = setTimeout(() => {
          req.end();
          reject(new SdError('E_TIMEOUT', `"${name}" did not answer the offer in time`));
        }, OFFER_TIMEOUT_MS);
        const req = port.request(
          { t: 'offer', lib: lib.id, drop, items },
          (a) => {
            if (!('t' in a) || (a.t !== 'offered' && a.t !== 'fail')) return;
            clearTimeout(timer);
            req.end();
            if (a.t === 'offered') resolve(a.state);
            else reject(new SdError(codeOf(a.code, 'E_REFUSED'), `"${name}" refused: ${a.message}`));
          },
          (e) => {
            clearTimeout(timer);
            reject(e);
          },
        );
      });
      return { drop, state, device: name };
    } catch (e) {
      lib.db.prepare('DELETE FROM xfer_grants WHERE id = ?').run(drop);
      throw e;
    }
  },
  verify: (_ctx, _plan, r) => [
    check(r.state === 'accepted' || r.state === 'queued', `"${r.device}" took the offer (${r.state})`),
  ],
});
