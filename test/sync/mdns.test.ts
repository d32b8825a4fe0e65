// mDNS discovery runs only inside a network namespace this test creates (multicast never
// leaves it); where namespaces cannot be made, the test says why and skips at run time.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../fixtures-child/mdns-peers.js', import.meta.url));
const NS = `vdfs-mdns-${process.pid}`;

function sh(...args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  return { ok: r.status === 0, err: (r.stderr || r.error?.message || '').trim() };
}

const made = sh('ip', 'netns', 'add', NS);
const ready =
  made.ok &&
  sh('ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up').ok &&
  sh('ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'multicast', 'on').ok &&
  sh('ip', 'netns', 'exec', NS, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'lo').ok;
test.after.always(() => {
  if (made.ok) sh('ip', 'netns', 'del', NS);
});

if (!ready) {
  // The one skip this project allows: it says why, at run time.
  test.skip(`mDNS discovery (skipped: cannot create a network namespace here: ${made.err || 'ip netns failed'})`, () =>
    undefined);
} else {
  test('two paired devices that forgot each other find each other again by mDNS, inside a private namespace', (t) => {
    const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, CHILD], {
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, SD_MDNS: 'on' },
    });
    t.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { found: boolean; synced: boolean };
    t.true(out.found, 'the devices linked without a saved address');
    t.true(out.synced, 'and synced over that link');
  });
}
