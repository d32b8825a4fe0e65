// The headless node: `sd config` settings read at start with their sources in `sd status`, a
// p2p port kept across restarts, a busy port refused before anything is created, service units.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { baseEnv, SD, sd, sdJson, startDaemon, stopDaemon } from '../cli/helpers.js';

interface Status {
  p2pPort: number | null;
  device: { name: string };
  settings: Record<string, { value: string | number; source: string }>;
}

function busyPort(t: Parameters<typeof tempDir>[0]): Promise<number> {
  return new Promise((resolve) => {
    const s: Server = createServer().listen(0, '127.0.0.1', () => {
      t.teardown(() => s.close());
      resolve((s.address() as { port: number }).port);
    });
  });
}

test('sd config set/get/list/unset: a 0600 file in the data dir, values checked, bad keys and values exit 2', (t) => {
  const dir = tempDir(t);
  t.is(sd(dir, ['config', 'set', 'p2p.port', '7421']).code, 0);
  t.is(sd(dir, ['config', 'set', 'mdns', 'off']).code, 0);
  t.is(sd(dir, ['config', 'set', 'device.name', 'home server']).code, 0);
  t.is(statSync(join(dir, 'settings.json')).mode & 0o777, 0o600);
  t.deepEqual(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')), {
    'p2p.port': 7421,
    mdns: 'off',
    'device.name': 'home server',
  });
  t.is(sd(dir, ['config', 'get', 'p2p.port']).out.trim(), '7421');
  const list = sdJson<{ key: string; value: unknown; source: string }[]>(t, dir, ['config', 'list'], {
    SD_MDNS: '',
    SD_WEBRTC: '',
  });
  t.deepEqual(
    list.map((r) => [r.key, r.value, r.source]),
    [
      ['p2p.port', 7421, 'config'],
      ['mdns', 'off', 'config'],
      ['webrtc', 'auto', 'default'],
      ['device.name', 'home server', 'config'],
      ['ice.servers', 'none', 'default'],
      ['ice.turn-secret', 'none', 'default'],
      ['ice.share', 'off', 'default'],
      ['transfer.limit', 'off', 'default'],
    ],
  );
  // ICE servers: STUN and TURN URLs, checked; a TURN password and the coturn secret are never shown.
  t.is(
    sd(dir, ['config', 'set', 'ice.servers', 'stun:stun.example.org:3478,turn:ann:pw1@turn.example.org:3478']).code,
    0,
  );
  t.is(sd(dir, ['config', 'set', 'ice.turn-secret', 'a-long-coturn-secret']).code, 0);
  const shown = sd(dir, ['config', 'list']).out;
  t.regex(shown, /turn:ann:\*\*\*@turn\.example\.org:3478/);
  t.false(shown.includes('pw1') || shown.includes('a-long-coturn-secret'), shown);
  // The environment comes before the file.
  t.like(sdJson(t, dir, ['config', 'get', 'mdns'], { SD_MDNS: 'on' }), { value: 'on', source: 'environment' });
  for (const bad of [
    ['config', 'set', 'p2p.port', '70000'],
    ['config', 'set', 'p2p.port', ''],
    ['config', 'set', 'mdns', 'maybe'],
    ['config', 'set', 'transfer.limit', 'fast'],
    ['config', 'set', 'device.name', 'a\u001b[2Jb'],
    ['config', 'set', 'nope', '1'],
    ['config', 'set', 'ice.servers', 'http://turn.example.org'],
    ['config', 'set', 'ice.servers', 'stun:user:pass@stun.example.org:3478'],
    ['config', 'set', 'ice.servers', 'turn:host:99999'],
    ['config', 'set', 'ice.turn-secret', 'short'],
    ['config', 'get', 'nope'],
  ]) {
    const r = sd(dir, bad);
    t.is(r.code, 2, `${bad.join(' ')}: ${r.err}`);
  }
  t.is(sd(dir, ['config', 'unset', 'mdns']).code, 0);
  t.false('mdns' in JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')));
  t.is(sd(dir, ['config', 'unset', 'mdns']).code, 1);
  // A damaged file is named, not a stack trace.
  writeFileSync(join(dir, 'settings.json'), '{ nope');
  const broken = sd(dir, ['config', 'list']);
  t.is(broken.code, 1);
  t.regex(broken.err, /settings\.json is not valid JSON.*E_CORRUPT_FILE/);
});

test('the daemon reads the settings at start; sd status says where each value came from', async (t) => {
  const dir = tempDir(t);
  sd(dir, ['config', 'set', 'p2p.port', '0']);
  sd(dir, ['config', 'set', 'device.name', 'nas']);
  startDaemon(t, dir, ['--webrtc'], { SD_MDNS: 'off', SD_WEBRTC: '' });
  const st = sdJson<Status>(t, dir, ['status']);
  t.true(typeof st.p2pPort === 'number' && st.p2pPort > 0);
  t.is(st.device.name, 'nas');
  t.deepEqual(st.settings, {
    'p2p.port': { value: 0, source: 'config' },
    mdns: { value: 'off', source: 'environment' },
    webrtc: { value: 'on', source: 'flag' },
    'device.name': { value: 'nas', source: 'config' },
    'ice.servers': { value: 'none', source: 'default' },
    'ice.turn-secret': { value: 'none', source: 'default' },
    'ice.share': { value: 'off', source: 'default' },
    'transfer.limit': { value: 'off', source: 'default' },
  });
  const human = sd(dir, ['status']).out;
  t.regex(human, /p2p\.port\s+0\s+config/);
  t.regex(human, /webrtc\s+on\s+flag/);
  t.regex(human, /mdns\s+off\s+environment/);
  // Setting the name while the daemon runs renames the device at once, in every library.
  t.is(sd(dir, ['config', 'set', 'device.name', 'nas2']).code, 0);
  t.is(sdJson<Status>(t, dir, ['status']).device.name, 'nas2');
  const devices = sdJson<{ name: string; self: boolean }[]>(t, dir, ['device', 'list']);
  t.is(devices.find((d) => d.self)!.name, 'nas2');
  // `sd device rename` keeps the setting in step (or the next start would rename it back).
  t.is(sd(dir, ['device', 'rename', 'attic']).code, 0);
  t.is(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8'))['device.name'], 'attic');
});

test('--p2p-port 0 keeps the port it got across restarts, and picks another when that one is taken', async (t) => {
  const dir = tempDir(t);
  startDaemon(t, dir, ['--p2p-port', '0']);
  const first = sdJson<Status>(t, dir, ['status']).p2pPort!;
  t.true(first > 0);
  t.is(sd(dir, ['stop']).code, 0);
  startDaemon(t, dir, ['--p2p-port', '0']);
  t.is(sdJson<Status>(t, dir, ['status']).p2pPort, first);
  t.is(sd(dir, ['stop']).code, 0);
  // Someone else took it meanwhile: any free port, remembered in turn.
  const taken = await new Promise<Server>((resolve) => {
    const s = createServer().listen(first, '127.0.0.1', () => resolve(s));
  });
  t.teardown(() => taken.close());
  startDaemon(t, dir, ['--p2p-port', '0']);
  const other = sdJson<Status>(t, dir, ['status']).p2pPort!;
  t.not(other, first);
  t.true(other > 0);
});

test('a first start on a busy port says E_P2P_LISTEN, no stack trace, and leaves no library behind', async (t) => {
  const dir = tempDir(t);
  const port = await busyPort(t);
  const r = sd(dir, ['start', '--p2p-port', String(port)]);
  t.teardown(() => stopDaemon(dir));
  t.is(r.code, 1);
  t.regex(
    r.err,
    new RegExp(`^sd: cannot listen for peers on 127\\.0\\.0\\.1:${port}: the port is in use.*\\(E_P2P_LISTEN\\)\\n$`),
  );
  t.notRegex(r.err, /at .*\.js:\d+|node:events/);
  const json = sd(dir, ['--json', 'start', '--p2p-port', String(port)]);
  t.is(JSON.parse(json.out).error.code, 'E_P2P_LISTEN');
  t.false(existsSync(join(dir, 'sd.pid')));
  t.deepEqual(existsSync(join(dir, 'libraries')) ? readdirSync(join(dir, 'libraries')) : [], []);
  // Bad values are usage errors before anything runs.
  t.is(sd(dir, ['start', '--p2p-port', 'http']).code, 2);
  t.is(sd(dir, ['start', '--p2p-port', '99999']).code, 2);
  // The next start is a healthy first start.
  startDaemon(t, dir, ['--p2p-port', '0']);
  const lib = sdJson<{ name: string; events: number; devices: number }>(t, dir, ['library', 'info']);
  t.is(lib.name, 'default');
  t.true(lib.events >= 1);
  t.is(lib.devices, 1);
  t.is(sd(dir, ['tag', 'create', 'works']).code, 0);
  t.is(sd(dir, ['stop']).code, 0);
  t.is(sd(dir, ['doctor']).code, 0);
});

function install(dir: string, home: string, args: string[]): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [SD, '--data-dir', dir, 'daemon', 'install', ...args], {
    encoding: 'utf8',
    env: { ...baseEnv(), XDG_CONFIG_HOME: home, XDG_DATA_HOME: join(home, 'data') },
  });
}

test('sd daemon install: start flags in the unit, paths with spaces quoted, one unit per data dir, shown by --dry-run', (t) => {
  const home = tempDir(t);
  const a = join(tempDir(t), 'my laptop $HOME 100%');
  const b = join(tempDir(t), 'second');
  const units = join(home, 'systemd', 'user');
  const dry = spawnSync(
    process.execPath,
    [SD, '--data-dir', a, '--dry-run', 'daemon', 'install', '--p2p-port', '7000'],
    {
      encoding: 'utf8',
      env: { ...baseEnv(), XDG_CONFIG_HOME: home },
    },
  );
  t.is(dry.status, 0, dry.stderr);
  t.regex(dry.stdout, /ExecStart=.*"--p2p-port" "7000"/);
  t.regex(dry.stdout, /dry run: nothing was written/);
  t.false(existsSync(units));

  const ra = install(a, home, ['--p2p-port', '7000', '--no-mdns', '--webrtc', '--device-name', 'home server']);
  t.is(ra.status, 0, String(ra.stderr));
  const rb = install(b, home, ['--p2p-port', '0']);
  t.is(rb.status, 0, String(rb.stderr));
  const files = readdirSync(units).sort();
  t.is(files.length, 2, files.join());
  t.true(files.every((f) => /^vdfs-[a-z0-9-]+-[0-9a-f]{8}\.service$/.test(f)));
  const unitA = readFileSync(
    join(
      units,
      files.find((f) => f.includes('my-laptop'))!,
    ),
    'utf8',
  );
  const exec = /^ExecStart=(.*)$/m.exec(unitA)![1]!;
  t.is(
    exec,
    [
      process.execPath,
      '--single-threaded-gc',
      '--max-semi-space-size=8',
      join(SD, '..', '..', 'dist', 'src', 'daemon', 'entry.js'),
      '--data-dir',
      a,
    ]
      .concat(['--p2p-port', '7000', '--mdns', 'off', '--webrtc', 'on', '--device-name', 'home server'])
      .map((w) => `"${w.replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`)
      .join(' '),
  );
  t.regex(unitA, /^Environment="SD_DATA_DIR=[^"]*my laptop \$HOME 100%%"$/m); // no variables expand there
  t.regex(unitA, /^Environment=MALLOC_ARENA_MAX=2$/m); // glibc reads it at start (src/daemon/memory.ts)
  // systemd itself accepts the file (quoting, specifiers), where systemd-analyze is installed.
  const verify = spawnSync('systemd-analyze', ['verify', join(units, files[0]!)], { encoding: 'utf8' });
  if (verify.error === undefined) t.is(verify.status, 0, verify.stderr);
  // Uninstall removes only that data dir's unit.
  const u = spawnSync(process.execPath, [SD, '--data-dir', a, 'daemon', 'uninstall'], {
    encoding: 'utf8',
    env: { ...baseEnv(), XDG_CONFIG_HOME: home },
  });
  t.is(u.status, 0, u.stderr);
  t.deepEqual(
    readdirSync(units),
    files.filter((f) => !f.includes('my-laptop')),
  );
  // Bad start flags are refused before anything is written.
  t.is(install(b, home, ['--p2p-port', 'x']).status, 2);
});

test('the default data dir keeps the plain vdfs.service name', (t) => {
  const home = tempDir(t);
  const r = spawnSync(process.execPath, [SD, 'daemon', 'install'], {
    encoding: 'utf8',
    env: { ...baseEnv(), SD_DATA_DIR: '', XDG_CONFIG_HOME: home, XDG_DATA_HOME: join(home, 'data') },
  });
  t.is(r.status, 0, r.stderr);
  t.true(existsSync(join(home, 'systemd', 'user', 'vdfs.service')));
  t.regex(readFileSync(join(home, 'systemd', 'user', 'vdfs.service'), 'utf8'), /--data-dir" "[^"]*\/data\/vdfs"/);
});
