// Library queries: list and info.
import { z } from 'zod';
import { statSync } from 'node:fs';
import { defineQuery } from '../define.js';
import type { Db } from '../../library/library.js';
import type { ReadDb } from '../host.js';

export function countEvents(db: ReadDb): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
}

export const listLibraries = defineQuery({
  name: 'library.list',
  scope: 'dataDir',
  summary: 'list the libraries of this data dir (name here, shared name, alias)',
  input: z.object({}),
  run: ({ core }) => [
    ...core.libraries.list().map((l) => ({
      ...core.libraries.naming(l.id),
      current: l.id === core.libraries.currentId,
      events: countEvents(l.ro) as number | null,
      encrypted: l.encrypted,
      locked: false,
    })),
    ...[...core.libraries.locked.keys()].map((id) => ({
      ...core.libraries.naming(id),
      current: id === core.libraries.currentId,
      events: null,
      encrypted: true,
      locked: true,
    })),
  ],
});

export const libraryInfo = defineQuery({
  name: 'library.info',
  summary: 'details of one library',
  input: z.object({ ref: z.string().optional() }),
  run: ({ core, lib: current }, { ref }) => {
    const lib = ref ? core.libraries.resolve(ref) : current;
    const meta = Object.fromEntries(
      (lib.ro.prepare('SELECT key, value FROM library_meta').all() as { key: string; value: string }[]).map((r) => [
        r.key,
        r.value,
      ]),
    );
    const devices = (
      lib.ro.prepare('SELECT COUNT(*) AS n FROM devices WHERE revoked_at IS NULL').get() as { n: number }
    ).n;
    let bytes = 0;
    for (const s of ['', '-wal']) {
      try {
        bytes += statSync(lib.path + s).size;
      } catch {
        // no WAL file yet
      }
    }
    return {
      ...core.libraries.naming(lib.id),
      current: lib.id === core.libraries.currentId,
      createdAt: Number(meta.created_at ?? 0),
      createdBy: meta.created_by ?? null,
      devices,
      events: countEvents(lib.ro),
      path: lib.path,
      bytes,
    };
  },
});
