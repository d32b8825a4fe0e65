// The outcome of each command's verify phase, keyed by the command's first event, so the
// audit history can say for every command whether its postconditions held.
import type { Projector } from './types.js';
import { stmt } from './types.js';

export interface VerifiedBody {
  command: string;
  refs: [string, number][];
  ok: boolean;
  checks: { what: string; ok: boolean; detail?: string }[];
}

export const auditProjector: Projector = {
  name: 'audit',
  tables: [
    {
      name: 'command_audit',
      ddl: `CREATE TABLE IF NOT EXISTS command_audit (dev TEXT NOT NULL, seq INTEGER NOT NULL, command TEXT NOT NULL,
            ok INTEGER NOT NULL, verified_seq INTEGER NOT NULL, failed TEXT, PRIMARY KEY (dev, seq)) WITHOUT ROWID`,
      orderBy: 'dev, seq',
    },
  ],
  handlers: {
    'command.verified': (db, ev) => {
      const b = ev.body as VerifiedBody;
      const failed = b.checks.filter((c) => !c.ok).map((c) => c.what + (c.detail ? `: ${c.detail}` : ''));
      const ins = stmt(
        db,
        'INSERT OR REPLACE INTO command_audit (dev, seq, command, ok, verified_seq, failed) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const [dev, seq] of b.refs)
        ins.run(dev, seq, b.command, b.ok ? 1 : 0, ev.seq, failed.length ? failed.join('; ') : null);
    },
  },
};
