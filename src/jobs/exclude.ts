// What indexing never enters: the data dirs of this process (their databases change with every
// write, so indexing them would index itself forever) and pseudo filesystems (/proc, /sys, /dev:
// files that block on read or never end). A location on a pseudo filesystem is refused outright.
import { readFileSync, statfsSync } from 'node:fs';
import { openDataDirs } from '../fsutil.js';

/** Filesystem types whose files are not data (Linux names, as in /proc/self/mounts). */
const PSEUDO_TYPES = new Set([
  'proc',
  'sysfs',
  'devtmpfs',
  'devpts',
  'cgroup',
  'cgroup2',
  'debugfs',
  'tracefs',
  'securityfs',
  'bpf',
  'pstore',
  'configfs',
  'mqueue',
  'efivarfs',
  'fusectl',
  'binfmt_misc',
  'hugetlbfs',
  'selinuxfs',
  'autofs',
  'nsfs',
  'rpc_pipefs',
]);

/** The same filesystems by statfs magic number (for systems where the mount table is not readable). */
const PSEUDO_MAGIC = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x1cd1, // devpts
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0xcafe4a11, // bpf
  0x6165676c, // pstore
  0x62656570, // configfs
  0x19800202, // mqueue
  0xde5e81e4, // efivarfs
  0x65735543, // fusectl
  0x42494e4d, // binfmt_misc
  0xf97cff8c, // selinuxfs
  0x6e736673, // nsfs
]);

const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

const inside = (child: string, parent: string): boolean =>
  child === parent || child.startsWith(parent === '/' ? '/' : `${parent}/`);

/** [mount point, filesystem type] of every mount, from the mount table (undefined where there is none). */
function mounts(): [string, string][] | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return undefined;
  }
  const out: [string, string][] = [];
  for (const line of text.split('\n')) {
    const [, dir, type] = line.split(' ');
    // The mount table escapes spaces and the like as octal (\040).
    if (dir && type)
      out.push([dir.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))), type]);
  }
  return out;
}

/** Mount points of pseudo filesystems. */
function pseudoMounts(): string[] {
  const all = mounts();
  return all ? all.filter(([, t]) => PSEUDO_TYPES.has(t)).map(([d]) => d) : PSEUDO_ROOTS;
}

/** Why a folder cannot be a location (it is on a pseudo filesystem), or undefined. */
export function pseudoFilesystem(path: string): string | undefined {
  const all = mounts();
  if (all) {
    // The deepest mount holding the path decides: /dev/shm (tmpfs) is data, /dev is not.
    let best: [string, string] | undefined;
    for (const m of all) if (inside(path, m[0]) && (!best || m[0].length >= best[0].length)) best = m;
    if (best && PSEUDO_TYPES.has(best[1])) return best[0];
  } else for (const r of PSEUDO_ROOTS) if (inside(path, r)) return r;
  try {
    const type = statfsSync(path).type;
    if (PSEUDO_MAGIC.has(type)) return `a filesystem of type 0x${type.toString(16)}`;
  } catch {
    // unreadable: the location's own checks say so
  }
  return undefined;
}

/** Folders below a location root that its index never enters, with the reason for each. */
export function excludedBelow(root: string): { path: string; why: string }[] {
  const out: { path: string; why: string }[] = [];
  for (const d of openDataDirs()) if (d !== root && inside(d, root)) out.push({ path: d, why: 'the data dir' });
  for (const m of pseudoMounts()) if (m !== root && inside(m, root)) out.push({ path: m, why: 'a pseudo filesystem' });
  return out;
}
