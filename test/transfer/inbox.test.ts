// sd send to an inbox: refused where there is none; `--accept ask` queues a drop until it is
// accepted (then it arrives, in the receiver's own log) or rejected (then nothing arrives and the
// sender's grant goes); `--accept members` fetches at once. Nothing lands outside the inbox.
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SdError } from '../../src/errors.js';
import { indexed, pair, until, waitJob } from './helpers.js';

interface Listing {
  inbox: { path: string; accept: string } | null;
  drops: { id: string; from: string; files: number; bytes: number; state: string; job: string | null }[];
}

test.serial('send to a device without an inbox is refused, and nothing is written there', async (t) => {
  const { a, b, lib, ra, rb } = await pair(t);
  writeFileSync(join(ra, 'hello.txt'), 'hello');
  await indexed(a, b, lib, ra);
  await indexed(b, a, lib, rb);
  const e = await t.throwsAsync(
    a.command('transfer.send', { device: 'bravo', paths: [join(ra, 'hello.txt')] }, { library: lib }),
  );
  t.is((e as SdError).code, 'E_NO_INBOX');
  t.regex((e as Error).message, /sd location add .* --inbox/);
  t.deepEqual(readdirSync(rb), []);
});

test.serial(
  '--accept ask: a drop waits in `inbox list`; accept fetches it into the inbox, reject fetches nothing',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    mkdirSync(join(ra, 'album'));
    for (let i = 0; i < 5; i++) writeFileSync(join(ra, 'album', `p${i}.jpg`), Buffer.alloc(10_000 * (i + 1), i));
    writeFileSync(join(ra, 'notes.txt'), 'not sent');
    writeFileSync(join(ra, 'junk.bin'), 'rejected');
    await indexed(a, b, lib, ra);
    const inbox = join(rb, 'Inbox');
    mkdirSync(inbox);
    await indexed(b, a, lib, inbox, { inbox: true, accept: 'ask' });
    const sent = await a.command<{ drop: string; state: string }>(
      'transfer.send',
      { device: 'bravo', paths: [join(ra, 'album')] },
      { library: lib },
    );
    t.is(sent.result!.state, 'queued');
    let l = await b.query<Listing>('inbox.list', {}, { library: lib });
    t.is(l.inbox!.accept, 'ask');
    t.is(l.drops.length, 1);
    t.like(l.drops[0], { id: sent.result!.drop, from: 'alpha', files: 5, bytes: 150_000, state: 'pending' });
    t.deepEqual(readdirSync(inbox), [], 'nothing is fetched before the owner accepts');

    const acc = await b.command<{ job: string }>(
      'inbox.accept',
      { ref: sent.result!.drop.slice(0, 8) },
      { library: lib },
    );
    const j = await waitJob(b, lib, acc.result!.job);
    t.is(j.state, 'completed', j.message ?? '');
    for (let i = 0; i < 5; i++)
      t.deepEqual(readFileSync(join(inbox, 'album', `p${i}.jpg`)), Buffer.alloc(10_000 * (i + 1), i));
    t.false(existsSync(join(inbox, 'notes.txt')), 'only what was sent arrives');
    l = await b.query<Listing>('inbox.list', {}, { library: lib });
    t.is(l.drops[0]!.state, 'done');
    const log = await b.query<{ summary: string; device: string }[]>(
      'log.list',
      { type: 'transfer' },
      { library: lib },
    );
    t.regex(log[0]!.summary, /received 5 file\(s\) .* from "alpha" into the inbox/);
    // Accepting twice is refused: the drop is done.
    const again = await t.throwsAsync(b.command('inbox.accept', { ref: sent.result!.drop }, { library: lib }));
    t.is((again as SdError).code, 'E_DROP_STATE');

    // A second drop, rejected: nothing arrives, and the sender may no longer fetch it either.
    const second = await a.command<{ drop: string; state: string }>(
      'transfer.send',
      { device: 'bravo', paths: [join(ra, 'junk.bin')] },
      { library: lib },
    );
    t.is(second.result!.state, 'queued');
    await b.command('inbox.reject', { ref: second.result!.drop }, { library: lib });
    l = await b.query<Listing>('inbox.list', {}, { library: lib });
    t.is(l.drops.find((d) => d.id === second.result!.drop)!.state, 'rejected');
    t.false(existsSync(join(inbox, 'junk.bin')));
    const grants = (): number =>
      (
        a.libraries
          .resolve(lib)
          .db.prepare('SELECT COUNT(*) AS n FROM xfer_grants WHERE id = ?')
          .get(second.result!.drop) as {
          n: number;
        }
      ).n;
    await until('the sender forgot the rejected grant', () => grants() === 0);
    const e = await t.throwsAsync(b.command('inbox.accept', { ref: second.result!.drop }, { library: lib }));
    t.is((e as SdError).code, 'E_DROP_STATE');
    const unknown = await t.throwsAsync(b.command('inbox.accept', { ref: 'ffffffff' }, { library: lib }));
    t.is((unknown as SdError).code, 'E_DROP_NOT_FOUND');
  },
);

test.serial(
  '--accept members: a drop from a member is fetched at once into the inbox (a free name if taken)',
  async (t) => {
    const { a, b, lib, ra, rb } = await pair(t);
    writeFileSync(join(ra, 'report.pdf'), 'v2 of the report');
    await indexed(a, b, lib, ra);
    const inbox = join(rb, 'Inbox');
    mkdirSync(inbox);
    writeFileSync(join(inbox, 'report.pdf'), 'mine, older');
    await indexed(b, a, lib, inbox, { inbox: true });
    const sent = await a.command<{ drop: string; state: string }>(
      'transfer.send',
      { device: 'bravo', paths: [join(ra, 'report.pdf')] },
      { library: lib },
    );
    t.is(sent.result!.state, 'accepted');
    await until('the drop is done', async () => {
      const l = await b.query<Listing>('inbox.list', {}, { library: lib });
      return l.drops[0]?.state === 'done' || l.drops[0]?.state === 'failed';
    });
    t.is(readFileSync(join(inbox, 'report.pdf'), 'utf8'), 'mine, older', 'a drop never overwrites');
    const names = readdirSync(inbox).filter((n) => n !== 'report.pdf' && !n.startsWith('.'));
    t.is(names.length, 1);
    t.is(readFileSync(join(inbox, names[0]!), 'utf8'), 'v2 of the report');
    // Sending a path outside this device's locations is refused before anything is offered.
    const e = await t.throwsAsync(
      a.command('transfer.send', { device: 'bravo', paths: ['/etc/hostname'] }, { library: lib }),
    );
    t.truthy((e as SdError).code);
  },
);
