// Pairing guesses are bounded: per invite (a code that met 5 wrong guesses is burned) and per
// address (10 wrong guesses lock it out for 10 minutes), refused attempts are logged in
// aggregate, and an honest joiner from another address still pairs.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Core } from '../../src/core.js';
import { SdError } from '../../src/errors.js';
import { pack, unpack } from '../../src/events/codec.js';
import { InviteBook, PAIR_LIMITS, decodeCode, inviteId } from '../../src/sync/pairing.js';
import { RefusalLog } from '../../src/sync/refusals.js';
import { openPeerLink } from '../../src/transport/peer-link.js';
import { connectWs } from '../../src/transport/ws.js';
import { tempDir } from '../helpers.js';

process.env.SD_P2P_HOST = '127.0.0.1';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as SdError).code;
  }
};

test('an invite is burned after 5 wrong guesses naming it; an address is locked out after 10, and let in again after the lockout', (t) => {
  let now = 1_000_000;
  const book = new InviteBook(() => now);
  const inv = book.create('lib', 3600_000);
  const right = (s: Uint8Array): boolean => Buffer.from(s).equals(Buffer.from(inv.secret));
  const wrong = (): boolean => false;
  for (let i = 0; i < PAIR_LIMITS.perInvite; i++)
    t.is(
      codeOf(() => book.redeem(`10.0.0.${i}`, inv.id, wrong)),
      'E_PAIR_REFUSED',
    );
  t.is(
    codeOf(() => book.redeem('10.0.0.99', inv.id, right)),
    'E_PAIR_LOCKED',
    'burned, even for the right secret',
  );
  t.is(book.active, 0);

  const other = book.create('lib', 3600_000);
  for (let i = 0; i < PAIR_LIMITS.perAddress; i++)
    t.is(
      codeOf(() => book.redeem('10.9.9.9', 'no-such-invite', wrong)),
      'E_PAIR_REFUSED',
    );
  t.like(book.admit('10.9.9.9'), { code: 'E_PAIR_LOCKED_OUT' });
  const ok = (s: Uint8Array): boolean => Buffer.from(s).equals(Buffer.from(other.secret));
  t.is(
    codeOf(() => book.redeem('10.9.9.9', other.id, ok)),
    'E_PAIR_LOCKED_OUT',
    'locked out, even with the code',
  );
  t.is(book.admit('10.1.1.1'), true, 'other addresses are not affected');
  now += PAIR_LIMITS.lockoutMs + 1;
  t.is(book.admit('10.9.9.9'), true);
  t.is(book.redeem('10.9.9.9', other.id, ok), other);
  t.is(
    codeOf(() => book.redeem('10.9.9.9', other.id, ok)),
    'E_PAIR_REUSED',
  );
  const late = book.create('lib', 1000);
  now += 2000;
  const okLate = (s: Uint8Array): boolean => Buffer.from(s).equals(Buffer.from(late.secret));
  t.is(
    codeOf(() => book.redeem('10.2.2.2', late.id, okLate)),
    'E_PAIR_EXPIRED',
  );
});

test('refusals are counted one by one but logged as the first line and one summary per window', async (t) => {
  const lines: { o: Record<string, unknown>; msg?: string }[] = [];
  const log = new RefusalLog(() => ({ warn: (o: object, msg?: string) => lines.push({ o: o as never, msg }) }), 100);
  for (let i = 0; i < 1000; i++) log.note(i % 2 ? 'E_PAIR_REFUSED' : 'E_PEER_NOT_ALLOWED', `10.0.${i % 300}.1`);
  t.is(lines.length, 1);
  t.deepEqual(log.counts, { E_PAIR_REFUSED: 500, E_PEER_NOT_ALLOWED: 500 });
  const end = Date.now() + 30_000;
  while (lines.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.is(lines.length, 2);
  t.like(lines[1]!.o, { refused: { E_PAIR_REFUSED: 500, E_PEER_NOT_ALLOWED: 499 }, addresses: 300 });
  t.is(Object.keys(lines[1]!.o.busiest as object).length, 5);
  log.note('E_PAIR_REFUSED', 'x');
  t.is(lines.length, 3, 'a new window starts with a full line');
  log.flush();
  t.is(lines.length, 3, 'nothing more happened in that window');
});

test('a stranger guessing at an open invite is locked out at the handshake, the log grows by two lines, and an honest joiner from another address pairs', async (t) => {
  const a = await Core.open(tempDir(t));
  const b = await Core.open(tempDir(t));
  const lines: string[] = [];
  a.log = { info: () => undefined, warn: (_o, msg) => void lines.push(msg ?? '') };
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.startPeers('127.0.0.1', 0);
  await b.startPeers('127.0.0.1', 0);
  const code = (await a.command<{ code: string }>('pair.invite', {})).result!.code;
  const port = a.peers!.port!;
  const stranger = Core.open(tempDir(t));
  const s = await stranger;
  t.teardown(() => s.close());

  /** One guess from 127.0.0.2: the refusal code, at whichever step it came. */
  const guess = async (invite: string): Promise<string> => {
    try {
      const link = await openPeerLink(await connectWs('127.0.0.1', port, { localAddress: '127.0.0.2' }), {
        role: 'initiator',
        mode: 'pair',
        privateKey: s.device.privateKey,
        isAllowed: () => true,
      });
      const answer = new Promise<string>((r) => {
        link.once('message', (_c, m) => r(String((unpack(m) as { code?: string }).code)));
        link.once('close', (x) => r(x.code));
      });
      link.send('pair', pack({ t: 'join', invite, proof: randomBytes(32), name: 'guesser' }));
      const code = await answer;
      // Polite: it hangs up, so it does not hold more of the stranger slots than one.
      const gone = new Promise((r) => (link.isOpen ? link.once('close', r) : r(null)));
      link.close('E_DONE', 'guessed');
      await gone;
      return code;
    } catch (e) {
      return (e as SdError).code;
    }
  };
  const seen: string[] = [];
  for (let i = 0; i < 30; i++) seen.push(await guess(i % 2 ? 'no-such-invite' : inviteId(randomBytes(16))));
  t.deepEqual(seen.slice(0, PAIR_LIMITS.perAddress), Array(PAIR_LIMITS.perAddress).fill('E_PAIR_REFUSED'));
  t.deepEqual(seen.slice(PAIR_LIMITS.perAddress), Array(30 - PAIR_LIMITS.perAddress).fill('E_PAIR_LOCKED_OUT'));
  t.like(a.peers!.status().refusals, { E_PAIR_REFUSED: 10, E_PAIR_LOCKED_OUT: 20 });
  t.is(lines.filter((l) => /refused/.test(l)).length, 1, 'one line so far for 30 refusals');

  // The honest joiner, from 127.0.0.1, pairs with the same code.
  const joined = await b.command<{ library: string }>('pair.join', { code });
  t.is(joined.result!.library, a.libraries.resolve().id);
  t.is(decodeCode(code).inviter, a.device.id);
  await a.peers!.stop();
  t.is(lines.filter((l) => /refused/.test(l)).length, 2, 'and one summary line');
});
