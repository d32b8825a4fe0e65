// Files of a transfer fetched side by side: at most PARALLEL at a time and AHEAD bytes asked for
// ahead between them, so many small files keep the link busy and one big file does not hog memory.
import { CHUNK, type ListedItem } from './protocol.js';

const PARALLEL = 16;
const AHEAD = 8 * CHUNK;

/**
 * Runs the work items at most PARALLEL at a time and AHEAD bytes ahead; the items done are taken
 * out of `todo`. Resolves with the first error (after the others stopped), or undefined.
 */
export async function runParallel(
  todo: { i: number; it: ListedItem }[],
  fn: (x: { i: number; it: ListedItem }) => Promise<void>,
  signal: AbortSignal,
): Promise<unknown> {
  let error: unknown;
  let ahead = 0;
  const running = new Set<Promise<void>>();
  const queue = [...todo];
  while ((queue.length || running.size) && error === undefined) {
    while (queue.length && running.size < PARALLEL && (running.size === 0 || ahead < AHEAD) && !signal.aborted) {
      const x = queue.shift()!;
      const cost = Math.min(x.it[2], 4 * CHUNK) + 1;
      ahead += cost;
      const p: Promise<void> = fn(x).then(
        () => {
          todo.splice(todo.indexOf(x), 1);
        },
        (e: unknown) => {
          error ??= e;
        },
      );
      const tracked = p.finally(() => {
        ahead -= cost;
        running.delete(tracked);
      });
      running.add(tracked);
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  await Promise.allSettled(running);
  return error ?? (signal.aborted ? signal.reason : undefined);
}
