// What a source refuses to serve: a path outside its served locations (a `--no-serve` location, a
// path in no location at all), and anything at all to a device it revoked. Nothing arrives, the
// job fails with the code, and the source counts the refusal in `sd sync status`.
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SdError } from '../../src/errors.js';
import { tempDir } from '../helpers.js';
import { indexed, pair, until, waitJob } from './helpers.js';

const codeOfJob = (m: string | null): string | undefined => /^(E_[A-Z_]+)/.exec(m ?? '')?.[1];

test.serial(
  'a location marked --no-serve is refused at the preview and at the source, and counted there',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    writeFileSync(join(ra, 'secret.txt'), 'not for you');
    await indexed(a, b, lib, ra, { serve: false });
    await indexed(b, a, lib, rb);
    // B's preview already knows (the location's sharing replicated with its event).
    const e = await t.throwsAsync(
      b.command('transfer.pull', { device: 'alpha', sources: [join(ra, 'secret.txt')], dest: rb }, { library: lib }),
    );
    t.is((e as SdError).code, 'E_NOT_SERVED');
    // A peer that skips the preview and asks the source directly is refused there too, and counted.
    const port = b.transfers!.attach(b.peers!.linkTo(a.device.id)!);
    const answer = await new Promise<{ t: string; code?: string }>((resolve) => {
      const req = port.request(
        { t: 'list', lib, path: join(ra, 'secret.txt') },
        (m) => {
          if ('t' in m) {
            req.end();
            resolve(m as { t: string; code?: string });
          }
        },
        () => resolve({ t: 'closed' }),
      );
    });
    t.is(answer.t, 'fail');
    t.is(answer.code, 'E_NOT_SERVED');
    t.true((a.peers!.status().refusals['E_NOT_SERVED'] ?? 0) >= 1);
    t.deepEqual(readdirSync(rb), []);
  },
);

test.serial(
  'a path in no location of the source (its /etc, its data dir) is refused; so is ../ out of one',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    writeFileSync(join(ra, 'ok.txt'), 'ok');
    const outside = tempDir(t);
    writeFileSync(join(outside, 'private.key'), 'key');
    await indexed(a, b, lib, ra);
    await indexed(b, a, lib, rb);
    const port = b.transfers!.attach(b.peers!.linkTo(a.device.id)!);
    const ask = (path: string, t2: 'list' | 'get' = 'list'): Promise<{ t: string; code?: string }> =>
      new Promise((resolve) => {
        const m =
          t2 === 'list'
            ? ({ t: 'list', lib, path } as const)
            : ({ t: 'get', lib, path, size: 3, mtime: 0, ino: 0, from: 0, credit: 4 } as const);
        const req = port.request(
          m,
          (x) => {
            if ('t' in x) {
              req.end();
              resolve(x as { t: string; code?: string });
            }
          },
          () => resolve({ t: 'closed' }),
        );
      });
    for (const p of [join(outside, 'private.key'), '/etc/passwd', `${ra}/../${outside.split('/').pop()}/private.key`]) {
      const r = await ask(p);
      t.is(r.code, 'E_NOT_SERVED', p);
      const g = await ask(p, 'get');
      t.is(g.code, 'E_NOT_SERVED', p);
    }
    t.true((a.peers!.status().refusals['E_NOT_SERVED'] ?? 0) >= 6);
    // The preview refuses a path the index of A does not have.
    const e = await t.throwsAsync(
      b.command('transfer.pull', { device: 'alpha', sources: ['/etc/passwd'], dest: rb }, { library: lib }),
    );
    t.truthy((e as SdError).code);
    t.deepEqual(readdirSync(rb), []);
  },
);

test.serial('a revoked device gets nothing: its pull fails and nothing is written', async (t) => {
  const { a, b, lib, ra, rb } = await pair(t);
  mkdirSync(join(ra, 'photos'));
  writeFileSync(join(ra, 'photos', 'beach.jpg'), Buffer.alloc(300_000, 7));
  await indexed(a, b, lib, ra);
  await indexed(b, a, lib, rb);
  await a.command('device.revoke', { device: 'bravo' }, { library: lib, yes: true });
  await until('A cut its link to B', () => !a.peers!.linkTo(b.device.id));
  // B may or may not have heard of its revocation yet: either way it gets nothing.
  let code: string | undefined;
  try {
    const out = await b.command<{ job: string }>(
      'transfer.pull',
      { device: 'alpha', sources: [join(ra, 'photos')], dest: rb },
      { library: lib },
    );
    const j = await waitJob(b, lib, out.result!.job);
    t.is(j.state, 'failed');
    code = codeOfJob(j.message);
  } catch (e) {
    code = (e as SdError).code;
  }
  t.log(`refused with ${code}`);
  t.true(['E_REVOKED', 'E_NOT_A_MEMBER', 'E_PEER_NOT_ALLOWED', 'E_LIBRARY_NOT_FOUND'].includes(code ?? ''), code);
  t.false(existsSync(join(rb, 'photos')));
  t.deepEqual(
    readdirSync(rb).filter((n) => n !== '.vdfs-partial'),
    [],
  );
});
