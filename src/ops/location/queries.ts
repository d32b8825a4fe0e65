// sd location list: each location with its index state, and whether its folder is in place.
import { z } from 'zod';
import { defineQuery } from '../define.js';
import type { ReadDb } from '../host.js';
import { SdError } from '../../errors.js';
import { checkFolder, folderAt } from '../../jobs/location-folder.js';

export const listLocations = defineQuery({
  name: 'location.list',
  summary: 'locations of the library with their index state',
  input: z.object({ device: z.string().optional() }),
  run: ({ core, db }, { device }) => {
    const rows = db
      .prepare(
        `SELECT l.id, l.dev, l.path, l.name, l.watch, l.indexed_at AS indexedAt, d.name AS deviceName,
           (SELECT COUNT(*) FROM entries e WHERE e.loc = l.id AND e.t = 0) AS files,
           (SELECT COALESCE(SUM(size), 0) FROM entries e WHERE e.loc = l.id AND e.t = 0) AS bytes,
           (SELECT state FROM jobs j WHERE j.loc = l.id ORDER BY created_at DESC LIMIT 1) AS jobState
         FROM locations l LEFT JOIN devices d ON d.dev = l.dev ORDER BY l.path`,
      )
      .all() as {
      id: string;
      dev: string;
      path: string;
      name: string;
      watch: number;
      indexedAt: number | null;
      deviceName: string | null;
      files: number;
      bytes: number;
      jobState: string | null;
    }[];
    return rows
      .filter((r) => !device || r.dev === device || r.deviceName === device || r.dev.startsWith(device))
      .map((r) => ({
        ...r,
        watch: r.watch === 1,
        watching: r.watch === 1 && r.dev === core.device.id && core.jobs.isWatching(r.id),
        local: r.dev === core.device.id,
        folder: r.dev === core.device.id ? folderState(db, r) : null,
      }));
  },
});

/**
 * Whether this device's location has its folder in place (location-folder.ts): 'missing' (no
 * folder at the path it can read), 'replaced' (another folder, or a disk not mounted), or 'ok'.
 */
function folderState(db: ReadDb, loc: { id: string; path: string }): 'ok' | 'missing' | 'replaced' {
  const now = folderAt(loc.path);
  if (!now) return 'missing';
  try {
    checkFolder(db, loc, now, undefined);
    return 'ok';
  } catch (e) {
    if (e instanceof SdError && e.code === 'E_LOCATION_REPLACED') return 'replaced';
    throw e;
  }
}
