// Property: whatever random operations three devices make while links between them are cut
// and healed at random, once every link is up again all three converge to the same projections
// and every log verifies. fast-check shrinks a failing sequence to a small one.
import test from 'ava';
import fc from 'fast-check';
import { Core } from '../../src/core.js';
import { FeedSession } from '../../src/sync/feed.js';
import { memoryChannelPair, type MemoryChannel } from '../support/memory-channel.js';
import { checksums } from '../../src/projections/index.js';
import type { Library } from '../../src/library/library.js';
import { tempDir } from '../helpers.js';
import { eventually } from '../support/until.js';

type Op =
  | { k: 'tag'; node: number; name: string }
  | { k: 'rename-tag'; node: number; name: string }
  | { k: 'rename-lib'; node: number; name: string }
  | { k: 'cut'; a: number; b: number }
  | { k: 'heal'; a: number; b: number };

const node = fc.integer({ min: 0, max: 2 });
const word = fc.constantFrom('red', 'blue', 'green', 'work', 'home', 'misc');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('tag' as const), node, name: word }),
  fc.record({ k: fc.constant('rename-tag' as const), node, name: word }),
  fc.record({ k: fc.constant('rename-lib' as const), node, name: word }),
  fc.record({ k: fc.constant('cut' as const), a: node, b: node }),
  fc.record({ k: fc.constant('heal' as const), a: node, b: node }),
);

test('three devices converge after any sequence of concurrent edits and partitions', async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
      runs++;
      const cores = [
        await Core.open(tempDir(t), { services: false }),
        await Core.open(tempDir(t), { services: false }),
        await Core.open(tempDir(t), { services: false }),
      ];
      try {
        const la = cores[0]!.libraries.resolve();
        for (const c of cores.slice(1))
          la.write(() =>
            la.append('device.added', { dev: c.device.id, pubkey: c.device.publicKey, name: c.device.name }),
          );
        const libs: Library[] = [la];
        for (const c of cores.slice(1))
          libs.push(await c.libraries.join(la.id, { dev: cores[0]!.device.id, pubkey: cores[0]!.device.publicKey }));
        const links = new Map<string, MemoryChannel[]>();
        const connect = (a: number, b: number): void => {
          const key = `${Math.min(a, b)}-${Math.max(a, b)}`;
          if (a === b || links.has(key)) return;
          const ends = memoryChannelPair(
            () => String(a),
            () => String(b),
          );
          new FeedSession(libs[a]!, ends[0]).start();
          new FeedSession(libs[b]!, ends[1]).start();
          links.set(key, ends);
        };
        const cut = (a: number, b: number): void => {
          const key = `${Math.min(a, b)}-${Math.max(a, b)}`;
          links.get(key)?.[0]!.close();
          links.delete(key);
        };
        connect(0, 1);
        connect(1, 2);
        connect(0, 2);
        const heads = (l: Library): string => JSON.stringify([...l.log.heads()].sort());
        await eventually(() => libs.every((l) => heads(l) === heads(la)));
        await Promise.all(libs.map((l) => l.sharedOpening));
        for (const o of ops) {
          if (o.k === 'cut') cut(o.a, o.b);
          else if (o.k === 'heal') connect(o.a, o.b);
          else {
            const c = cores[o.node]!;
            const lib = libs[o.node]!;
            if (o.k === 'rename-lib') await c.command('library.rename', { name: o.name }, { library: la.id });
            else if (o.k === 'tag')
              await c.command(
                'tag.create',
                { name: `${o.name}-${o.node}-${runs}-${Math.random().toString(36).slice(2, 6)}` },
                { library: la.id },
              );
            else {
              const any = lib.db.prepare('SELECT id FROM tags ORDER BY id LIMIT 1').get() as { id: string } | undefined;
              if (any)
                await c
                  .command(
                    'tag.rename',
                    { tag: any.id, name: `${o.name}-${Math.random().toString(36).slice(2, 6)}` },
                    { library: la.id },
                  )
                  .catch(() => undefined);
            }
          }
          await new Promise((r) => setImmediate(r));
        }
        connect(0, 1);
        connect(1, 2);
        connect(0, 2);
        const converged = await eventually(
          () => libs.every((l) => heads(l) === heads(la)) && new Set(libs.map((l) => checksums(l.db).total)).size === 1,
        );
        if (!converged) return false;
        for (const c of cores) {
          const v = await c.query<{ ok: boolean }>('log.verify', {}, { library: la.id });
          if (!v.ok) return false;
        }
        for (const ends of links.values()) ends[0]!.close();
        return true;
      } finally {
        for (const c of cores) await c.close();
      }
    }),
    {
      numRuns: Number(process.env.PROPERTY_RUNS ?? 6),
      seed: Number(process.env.PROPERTY_SEED ?? 42),
      endOnFailure: true,
    },
  );
  t.true(runs >= 6 || !!process.env.PROPERTY_RUNS);
});
