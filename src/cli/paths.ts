// Paths on the command line. Relative paths are resolved here, against the folder `sd` runs in
// (the daemon's own working folder means nothing to the user). A relative path cannot name a
// file of another device, so with `--device OTHER` it is refused; with `--device` naming this
// device it is resolved as usual.
import { isAbsolute, resolve } from 'node:path';
import { SdError } from '../errors.js';
import type { CliContext } from './context.js';

/** An absolute path for this device; an empty path is refused (it is never "here"). */
export function absPath(p: string, what = 'path'): string {
  if (p === '') throw new SdError('E_BAD_INPUT', `the ${what} is empty; give a folder or file (\`.\` for this folder)`);
  return resolve(process.cwd(), p);
}

async function isThisDevice(ctx: CliContext, device: string): Promise<boolean> {
  const devs = await ctx.query('device.list', {}, true);
  const hit = devs.filter(
    (d) => d.id === device || d.name === device || (device.length >= 4 && d.id.startsWith(device)),
  );
  return hit.length === 1 && hit[0]!.self;
}

/** Absolute paths to send to the daemon for `--device` (or this device when it is absent). */
export async function devicePaths(ctx: CliContext, paths: string[], device: string | undefined): Promise<string[]> {
  if (device === undefined) return paths.map((p) => absPath(p));
  const relative = paths.filter((p) => !isAbsolute(p));
  if (relative.length === 0) return paths;
  if (relative.includes('')) absPath('');
  if (await isThisDevice(ctx, device)) return paths.map((p) => absPath(p));
  throw new SdError(
    'E_RELATIVE_PATH',
    `"${relative[0]}" is relative, and a path of another device cannot be resolved against this folder; give its absolute path on ${device} (as \`sd ls --device ${device}\` shows them)`,
    { path: relative[0] },
  );
}
