// A location's folder replaced, or its disk not mounted, while no job runs: every new index job
// (a rescan, a watch's rescan) refuses the folder now at the path and leaves the index as it was,
// until the disk is back or the user adopts the new folder. The same folder renamed away and
// back, or seen after a reboot under another device number, is still the location's.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../../src/core.js';
import { checkFolder, folderAt, sameFolder, thisBoot, type FolderId } from '../../src/jobs/location-folder.js';
import { runIndexJob, type IndexCheckpoint } from '../../src/jobs/indexer.js';
import { openCore } from '../helpers.js';
import { addAndIndex, indexRows, waitJob } from '../fixtures-child/util.js';
import { handJob, tempDir } from './helpers.js';

const keys = (core: Core, loc: string): string[] => indexRows(core, loc).map((r) => r.key);
const head = (core: Core): number => {
  const lib = core.libraries.resolve();
  return lib.log.headOf(lib.log.deviceId).seq;
};

function fill(dir: string, names: string[]): void {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const n of names) writeFileSync(join(dir, n), `bytes of ${n}`);
}

/** A location holding `names` (and a folder `sub`), added and indexed: the test's dir, the folder, the core, the id. */
async function indexedLocation(
  t: ExecutionContext,
  names: string[],
): Promise<{ dir: string; root: string; core: Core; loc: string }> {
  const dir = tempDir(t);
  const root = join(dir, 'loc');
  fill(root, names);
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc } = await addAndIndex(core, root);
  return { dir, root, core, loc };
}

async function rescan(core: Core, loc: string, extra: Record<string, unknown> = {}): Promise<string> {
  const out = await core.command<{ job: string }>('location.rescan', { ref: loc, ...extra });
  const j = await waitJob(core, out.result!.job);
  return j.state;
}

/** A job queued as a watch queues one (no command, so no check before it): how it ended, and its message. */
async function watchRescan(core: Core, loc: string): Promise<{ state: string; message: string | null }> {
  const lib = core.libraries.resolve();
  const id = core.jobs.enqueue(lib, 'index', loc, { loc, scope: ['sub'] }).id;
  await waitJob(core, id);
  return lib.db.prepare('SELECT state, message FROM jobs WHERE id = ?').get(id) as { state: string; message: string };
}

test('a folder put at the path of a location while no job ran: refused until adopted, and the index is kept', async (t) => {
  const { dir, root, core, loc } = await indexedLocation(t, ['a.txt', 'sub/b.txt']);
  const before = keys(core, loc);
  t.deepEqual(before, ['a.txt', 'sub', 'sub/b.txt']);
  const lib = core.libraries.resolve();
  t.like(
    lib.db.prepare('SELECT ino FROM location_folders WHERE loc = ?').get(loc),
    {
      ino: String(statSync(root, { bigint: true }).ino),
    },
    '`location add` kept the folder it added',
  );

  // Moved away, and another folder made at the path (a restore, a sync tool, another user).
  renameSync(root, join(dir, 'loc.old'));
  const state = async (): Promise<unknown> => (await core.query<{ folder: string }[]>('location.list', {}))[0]?.folder;
  t.is(await state(), 'missing');
  fill(root, ['other.txt', 'sub/c.txt']);
  t.is(await state(), 'replaced');
  const seq = head(core);
  await t.throwsAsync(core.command('location.rescan', { ref: loc }), {
    code: 'E_LOCATION_REPLACED',
    message: /not the folder this location indexed.*--adopt/,
  });
  const watched = await watchRescan(core, loc);
  t.is(watched.state, 'failed', "a watch's rescan is refused as well");
  t.regex(watched.message ?? '', /not the folder this location indexed/);
  t.deepEqual(keys(core, loc), before, 'the index still holds the folder it indexed');
  t.is(head(core), seq, 'no event was written');

  // The user says the new folder is the location's.
  const dry = await core.command('location.rescan', { ref: loc, adopt: true }, { dryRun: true });
  t.false(dry.committed);
  t.regex(JSON.stringify(dry.plan.changes), /becomes the location's/);
  t.is(await rescan(core, loc, { adopt: true }), 'completed');
  t.deepEqual(keys(core, loc), ['other.txt', 'sub', 'sub/c.txt']);
  t.is(await rescan(core, loc), 'completed', 'the adopted folder is the location from now on');
  t.is(await state(), 'ok');
});

test("a symlink to another folder put at a location's path is refused too", async (t) => {
  const { dir, root, core, loc } = await indexedLocation(t, ['a.txt']);
  fill(join(dir, 'elsewhere'), ['secret.txt']);
  renameSync(root, join(dir, 'loc.old'));
  symlinkSync(join(dir, 'elsewhere'), root);
  await t.throwsAsync(core.command('location.rescan', { ref: loc }), { code: 'E_LOCATION_REPLACED' });
  t.is((await watchRescan(core, loc)).state, 'failed');
  t.deepEqual(keys(core, loc), ['a.txt', 'sub']);
});

test('the same folder renamed away and back, and seen by the daemon started again, is still the location', async (t) => {
  const dir = tempDir(t);
  const root = join(dir, 'loc');
  fill(root, ['a.txt']);
  const data = join(dir, 'data');
  let core = await openCore(t, data);
  const { id: loc } = await addAndIndex(core, root);
  renameSync(root, join(dir, 'moved'));
  renameSync(join(dir, 'moved'), root);
  writeFileSync(join(root, 'new.txt'), 'new');
  t.is(await rescan(core, loc), 'completed');
  await core.close();
  core = await openCore(t, data);
  t.is(await rescan(core, loc), 'completed');
  t.deepEqual(keys(core, loc), ['a.txt', 'new.txt', 'sub']);
});

test('a disk not mounted at its mount point: the empty folder there is refused, the index kept; mounted again, it is the location', async (t) => {
  const dir = tempDir(t);
  const disk = join(dir, 'disk');
  const mnt = join(dir, 'mnt');
  fill(disk, ['photo.jpg', 'sub/clip.mp4']);
  mkdirSync(mnt);
  // A bind mount stands for the disk: its root is the disk's folder, the mount point another one.
  const mount = (): ReturnType<typeof spawnSync> => spawnSync('mount', ['--bind', disk, mnt], { encoding: 'utf8' });
  const first = mount();
  if (first.status !== 0) {
    t.log(`skipped: cannot bind-mount here (${String(first.stderr || first.error?.message || '').trim()})`);
    t.pass();
    return;
  }
  t.teardown(() => void spawnSync('umount', ['-l', mnt]));
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc } = await addAndIndex(core, mnt);
  const before = keys(core, loc);
  t.deepEqual(before, ['photo.jpg', 'sub', 'sub/clip.mp4']);

  const folder = async (): Promise<unknown> =>
    (await core.query<{ id: string; folder: string }[]>('location.list', {})).find((l) => l.id === loc)?.folder;
  t.is(await folder(), 'ok');
  t.is(spawnSync('umount', [mnt]).status, 0);
  t.is(await folder(), 'replaced', '`sd location list` says the folder is not the one indexed');
  await t.throwsAsync(core.command('location.rescan', { ref: loc }), {
    code: 'E_LOCATION_REPLACED',
    message: /disk that holds it is not mounted/,
  });
  t.is((await watchRescan(core, loc)).state, 'failed');
  t.deepEqual(keys(core, loc), before, 'nothing was taken out of the index');

  t.is(mount().status, 0);
  t.is(await folder(), 'ok');
  writeFileSync(join(disk, 'later.txt'), 'written while mounted again');
  t.is(await rescan(core, loc), 'completed');
  t.deepEqual(keys(core, loc), ['later.txt', ...before]);
});

test('the same folder is told from another one by kind of filesystem, mount, birth time, inode, device and boot', (t) => {
  const EXT4 = String(0xef53);
  const VFAT = String(0x4d44);
  const f = (over: Partial<FolderId> = {}): FolderId => ({
    dev: '2049',
    ino: '131',
    btime: '1795960840867804817',
    boot: 'boot-1',
    fs: EXT4,
    mount: '1',
    ...over,
  });
  t.true(sameFolder(f(), f()));
  t.false(sameFolder(f(), f({ ino: '132' })), 'another inode');
  t.false(sameFolder(f(), f({ btime: '1795960840867804818' })), 'another birth time');
  t.false(sameFolder(f({ btime: '0' }), f()), 'a filesystem that records birth times where one did not');
  t.false(sameFolder(f(), f({ fs: String(0x01021994) })), 'another kind of filesystem (a tmpfs mounted there)');
  t.false(sameFolder(f(), f({ mount: '0' })), 'the bare mount point of a disk not mounted');
  t.true(sameFolder(f({ mount: '0' }), f({ mount: '1' })), 'a folder a disk was mounted on since');
  t.true(sameFolder(f(), f({ dev: '2065', boot: 'boot-2' })), 'a removable disk after a reboot');
  t.true(sameFolder(f(), f({ dev: '2065' })), 'a disk plugged in again under another number');
  t.false(sameFolder(f({ btime: '0' }), f({ btime: '0', dev: '2065', boot: 'boot-2' })), 'no birth time to tell');
  t.true(sameFolder(f({ btime: '0' }), f({ btime: '0' })), 'no birth time, same device and inode');
  // FAT and exFAT make inode numbers up at each mount: the same card comes back with others.
  t.true(sameFolder(f({ fs: VFAT, btime: '0' }), f({ fs: VFAT, btime: '0', ino: '977', dev: '2065' })));
  t.false(sameFolder(f({ fs: VFAT, btime: '0' }), f({ fs: VFAT, btime: '0', mount: '0' })));
  // A job resumed from its checkpoint: another device number only from another boot.
  t.true(sameFolder(f(), f({ dev: '2065', boot: 'boot-2' }), true));
  t.false(sameFolder(f(), f({ dev: '2065' }), true));
  t.false(sameFolder(f({ boot: '' }), f({ dev: '2065', boot: 'boot-2' }), true), 'no boot id to tell');
  t.true(sameFolder(f(), f(), true));
  // A checkpoint from before (device and inode only): those must match.
  const old = { dev: '2049', ino: '131', btime: '', boot: '', fs: '', mount: '' };
  t.true(sameFolder(old, f(), true));
  t.false(sameFolder(old, f({ dev: '2065', boot: 'boot-2' }), true));
});

test('a folder kept from before: it must hold one of the entries indexed at its top, by inode (a rename keeps it)', async (t) => {
  const { root, core, loc } = await indexedLocation(t, ['a.txt', 'b.txt']);
  const db = core.libraries.resolve().db;
  const loc0 = { id: loc, path: root };
  const now = folderAt(root)!;
  db.prepare('DELETE FROM location_folders').run();
  t.notThrows(() => checkFolder(db, loc0, now, undefined));
  // Another file of the same name later: made before the old ones go, so it cannot get a freed inode back.
  writeFileSync(join(root, 'a.new'), 'same name, another file (another inode)');
  rmSync(join(root, 'a.txt'));
  renameSync(join(root, 'sub'), join(root, 'renamed'));
  t.notThrows(() => checkFolder(db, loc0, now, undefined), 'a folder renamed is still the one indexed');
  rmSync(join(root, 'b.txt'));
  rmSync(join(root, 'renamed'), { recursive: true });
  renameSync(join(root, 'a.new'), join(root, 'a.txt'));
  t.throws(() => checkFolder(db, loc0, now, undefined), {
    code: 'E_LOCATION_REPLACED',
    message: /none of the entries indexed at its top level/,
  });
  mkdirSync(join(root, 'lost+found'));
  t.throws(() => checkFolder(db, loc0, now, undefined), { code: 'E_LOCATION_REPLACED' }, 'lost+found tells nothing');
});

test('a folder kept from before whose only entry at its top has a name that is not UTF-8 is still the location', async (t) => {
  const dir = tempDir(t);
  const root = join(dir, 'loc');
  mkdirSync(root);
  writeFileSync(Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9])]), 'latin-1 name');
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc } = await addAndIndex(core, root);
  t.is(keys(core, loc).length, 1);
  const db = core.libraries.resolve().db;
  db.prepare('DELETE FROM location_folders').run();
  t.notThrows(() => checkFolder(db, { id: loc, path: root }, folderAt(root)!, undefined));
  t.is(await rescan(core, loc), 'completed');
});

test('a disk without birth times, emptied or with its only folder renamed, is still the location once kept', async (t) => {
  const { root, core, loc } = await indexedLocation(t, ['a.txt']);
  const db = core.libraries.resolve().db;
  db.prepare("UPDATE location_folders SET btime = '0' WHERE loc = ?").run(loc);
  const now = { ...folderAt(root)!, btime: '0' };
  rmSync(join(root, 'a.txt'));
  renameSync(join(root, 'sub'), join(root, 'Pictures'));
  t.notThrows(() => checkFolder(db, { id: loc, path: root }, now, undefined));
  rmSync(join(root, 'Pictures'), { recursive: true });
  t.notThrows(() => checkFolder(db, { id: loc, path: root }, now, undefined), 'emptied');
});

test('a location kept from before this check: its next job takes the folder only if it holds what was indexed', async (t) => {
  const { dir, root, core, loc } = await indexedLocation(t, ['a.txt']);
  const db = core.libraries.resolve().db;
  db.prepare('DELETE FROM location_folders').run();
  // The disk not mounted at the daemon's start: the empty mount point is not taken (nor kept).
  renameSync(root, join(dir, 'loc.away'));
  mkdirSync(root);
  t.is((await watchRescan(core, loc)).state, 'failed');
  t.deepEqual(keys(core, loc), ['a.txt', 'sub']);
  t.deepEqual(db.prepare('SELECT loc FROM location_folders').all(), []);
  rmSync(root, { recursive: true });
  renameSync(join(dir, 'loc.away'), root);
  t.is(await rescan(core, loc), 'completed', 'the folder back in place is taken, and kept');
  t.like(db.prepare('SELECT ino FROM location_folders WHERE loc = ?').get(loc), {
    ino: String(statSync(root, { bigint: true }).ino),
  });
});

test('`--adopt` takes only the folder its plan showed: another one put at the path before the job runs is refused', async (t) => {
  const { dir, root, core, loc } = await indexedLocation(t, ['a.txt']);
  renameSync(root, join(dir, 'loc.old'));
  fill(root, ['shown.txt']);
  const shown = folderAt(root)!;
  renameSync(root, join(dir, 'loc.shown'));
  fill(root, ['later.txt']);
  const lib = core.libraries.resolve();
  const id = core.jobs.enqueue(lib, 'index', loc, { loc, adopt: shown }).id;
  await waitJob(core, id);
  const row = lib.db.prepare('SELECT state, message FROM jobs WHERE id = ?').get(id) as {
    state: string;
    message: string;
  };
  t.is(row.state, 'failed');
  t.regex(row.message, /not the folder `--adopt` was shown/);
  t.deepEqual(keys(core, loc), ['a.txt', 'sub']);
});

test('every checkpoint of a job pins the folder with its birth time and boot', async (t) => {
  const { root, core, loc } = await indexedLocation(t, ['a.txt', 'sub/b.txt']);
  const lib = core.libraries.resolve();
  const kept: IndexCheckpoint[] = [];
  const job = { id: 'full', checkpoint: null, resumes: 0, input: { loc, full: true } };
  await runIndexJob(handJob(t, lib, job, (cp) => kept.push(cp as IndexCheckpoint)));
  const pinned = kept.filter((c) => c.phase !== 'aggregate');
  t.deepEqual([...new Set(pinned.map((c) => c.phase))], ['walk', 'identify']);
  const now = folderAt(root)!;
  for (const c of pinned) t.deepEqual(c.pin, [now.dev, now.ino, now.btime, now.boot, now.fs, now.mount], c.phase);
});

test('a job paused across a reboot that brought its disk back under another device number resumes', async (t) => {
  const { root, core, loc } = await indexedLocation(t, ['a.txt', 'sub/b.txt']);
  writeFileSync(join(root, 'sub/while-away.txt'), 'new');
  const now = folderAt(root)!;
  const lib = core.libraries.resolve();
  const resume = async (pin: IndexCheckpoint['pin']): Promise<unknown> => {
    const checkpoint: IndexCheckpoint = {
      phase: 'walk',
      scopeIdx: 0,
      fresh: false,
      pendingNew: [],
      pendingGone: [],
      walked: 0,
      startSeq: lib.log.headOf(lib.log.deviceId).seq,
      pin,
    };
    return runIndexJob(handJob(t, lib, { id: 'paused', checkpoint, resumes: 1, input: { loc } }));
  };
  const otherDev = String(BigInt(now.dev) + 1n);
  // The job was paused in another boot, with the disk under another number: same inode and birth time.
  if (now.btime !== '0' && thisBoot() !== '') {
    await resume([otherDev, now.ino, now.btime, 'an-earlier-boot']);
    t.true(keys(core, loc).includes('sub/while-away.txt'), 'the resumed job walked the folder');
  } else t.log('this filesystem or system gives no birth time or boot id: only the refusals below apply');
  // The same boot, another device: not the folder (as every open inside a job).
  await t.throwsAsync(resume([otherDev, now.ino, now.btime, thisBoot()]), { code: 'E_LOCATION_CHANGED' });
  // A checkpoint kept before birth times were (device and inode only) compares those.
  await t.throwsAsync(resume([otherDev, now.ino]), { code: 'E_LOCATION_CHANGED' });
  await resume([now.dev, now.ino]);
});

test("a location's folder kept after a reboot under another device number: a rescan takes it, and keeps the new number", async (t) => {
  const { root, core, loc } = await indexedLocation(t, ['a.txt']);
  const db = core.libraries.resolve().db;
  const now = folderAt(root)!;
  if (now.btime === '0' || thisBoot() === '') {
    t.log('skipped: this filesystem or system gives no birth time or boot id');
    t.pass();
    return;
  }
  db.prepare("UPDATE location_folders SET dev = dev + 1, boot = 'an-earlier-boot' WHERE loc = ?").run(loc);
  t.is(await rescan(core, loc), 'completed');
  t.like(db.prepare('SELECT dev, boot FROM location_folders WHERE loc = ?').get(loc), {
    dev: now.dev,
    boot: now.boot,
  });
  await core.command('location.remove', { ref: loc });
  t.deepEqual(db.prepare('SELECT loc FROM location_folders').all(), [], 'a removed location leaves nothing');
});

test("a symlink loop put at a location's path: the location shows as missing, and a file operation into it is refused with a code", async (t) => {
  const { dir, root, core, loc } = await indexedLocation(t, ['a.txt']);
  const elsewhere = join(dir, 'elsewhere');
  fill(elsewhere, ['new.txt']);
  await addAndIndex(core, elsewhere);
  renameSync(root, join(dir, 'loc.away'));
  symlinkSync(root, root); // ELOOP for every lookup through it
  const listed = await core.query<{ path: string; folder: string }[]>('location.list', {});
  t.is(listed.find((l) => l.path === root)?.folder, 'missing');
  const err = await t.throwsAsync(core.command('entry.cp', { sources: [join(elsewhere, 'new.txt')], dest: root }));
  t.regex(String((err as { code?: unknown }).code), /^E_[A-Z_]+$/, String(err));
  t.not((err as { code?: unknown }).code, 'E_PATH_OUTSIDE_LOCATION');
  t.deepEqual(keys(core, loc), ['a.txt', 'sub']);
});

test('a file operation into a location whose disk is not mounted is refused before it touches the disk', async (t) => {
  const { dir, root, core, loc } = await indexedLocation(t, ['a.txt', 'sub/b.txt']);
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'new.txt'), 'to copy in');
  const { id: other } = await addAndIndex(core, elsewhere);
  // The mount point left empty.
  renameSync(root, join(dir, 'disk-away'));
  mkdirSync(root);
  const seq = head(core);
  for (const [name, input] of [
    ['entry.mkdir', { path: join(root, 'made') }],
    ['entry.cp', { sources: [join(elsewhere, 'new.txt')], dest: root }],
    ['entry.mv', { sources: [join(elsewhere, 'new.txt')], dest: join(root, 'moved.txt') }],
  ] as const)
    await t.throwsAsync(core.command(name, input), { code: 'E_LOCATION_REPLACED' }, name);
  t.deepEqual(readdirSync(root), [], 'nothing was made at the empty mount point');
  t.deepEqual(readdirSync(elsewhere), ['new.txt'], 'nothing was moved away');
  t.deepEqual(keys(core, loc), ['a.txt', 'sub', 'sub/b.txt']);
  t.deepEqual(keys(core, other), ['new.txt']);
  t.is(head(core), seq, 'no event was written');
});

test("another disk mounted where the location's disk was is refused; the bare mount point too", async (t) => {
  const dir = tempDir(t);
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  // A tmpfs stands for a disk: its own filesystem, mounted at the location's path.
  const mount = (): ReturnType<typeof spawnSync> =>
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { encoding: 'utf8' });
  const first = mount();
  if (first.status !== 0) {
    t.log(`skipped: cannot mount a tmpfs here (${String(first.stderr || first.error?.message || '').trim()})`);
    t.pass();
    return;
  }
  t.teardown(() => {
    // Every tmpfs this test mounted, the last first.
    for (let i = 0; i < 3 && spawnSync('umount', [mnt]).status === 0; i++);
  });
  fill(mnt, ['photo.jpg']);
  const core = await openCore(t, join(dir, 'data'));
  const { id: loc } = await addAndIndex(core, mnt);
  t.is(spawnSync('umount', [mnt]).status, 0);
  await t.throwsAsync(core.command('location.rescan', { ref: loc }), { code: 'E_LOCATION_REPLACED' }, 'bare');
  t.is(mount().status, 0);
  fill(mnt, ['photo.jpg']);
  await t.throwsAsync(core.command('location.rescan', { ref: loc }), { code: 'E_LOCATION_REPLACED' }, 'another disk');
  t.deepEqual(keys(core, loc), ['photo.jpg', 'sub']);
});
