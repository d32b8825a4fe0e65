// Search filters that name something (a tag, a location): an unknown name is an error with a
// suggestion, not an empty result that looks like "nothing matches".
import { SdError } from '../../errors.js';
import type { Db } from '../../library/library.js';
import { didYouMean } from '../suggest.js';
import { resolveNamed } from '../tag/named.js';

/** The ids of the tags called `ref` (tags of one name are one tag), or the one an id (prefix) names. */
export function knownTags(db: Db, ref: string): string[] {
  return resolveNamed(db, 'tag', ref).ids;
}

/** The ids of the locations called `ref` (or with that id or id prefix). */
export function knownLocations(db: Db, ref: string): string[] {
  const rows = db.prepare('SELECT id, name, path FROM locations').all() as { id: string; name: string; path: string }[];
  const hit = rows.filter(
    (r) => r.id === ref || r.name === ref || r.path === ref || (ref.length >= 4 && r.id.startsWith(ref)),
  );
  if (hit.length) return hit.map((r) => r.id);
  throw new SdError(
    'E_LOCATION_NOT_FOUND',
    `no location "${ref}" in this library.${didYouMean(
      ref,
      rows.map((r) => r.name),
    )} See \`sd location list\`.`,
    { location: ref },
  );
}
