// `sd config set transfer.limit RATE` on a running daemon: the new limit applies at once.
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { parseRate } from '../../transfer/limit.js';
import { check, defineCommand } from '../define.js';

export const setTransferLimit = defineCommand({
  name: 'transfer.limit',
  scope: 'dataDir',
  summary: 'set the bandwidth file transfers may use, each direction (20M, 500K, off)',
  input: z.object({ rate: z.string().min(1).max(32) }),
  preview: ({ core }, { rate }) => {
    const bps = parseRate(rate);
    if (bps === undefined) throw new SdError('E_BAD_INPUT', `"${rate}" is not a rate (20M, 500K, 1G or off)`);
    const was = core.transfers?.sendLimit.bytesPerSecond ?? 0;
    return {
      summary: `limit file transfers to ${bps ? `${bps} bytes/s` : 'nothing (no limit)'} each direction`,
      changes: [{ op: 'update', target: 'transfer.limit', detail: `${was || 'off'} -> ${bps || 'off'}` }],
      data: { bps },
    };
  },
  commit: ({ core }, plan) => {
    core.transfers?.setLimit(plan.data!.bps);
    return { bps: plan.data!.bps };
  },
  verify: ({ core }, plan) => [
    check((core.transfers?.sendLimit.bytesPerSecond ?? 0) === plan.data!.bps, 'the limit is in force'),
  ],
});
