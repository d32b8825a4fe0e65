// How a joiner learns that the library took it in: from its own copy of the roster.
import type { Library } from '../library/library.js';
import { stmt } from '../projections/types.js';

/**
 * Resolves true once `dev` is on the library's roster; false once no event arrived for `stallMs`,
 * or after `capMs`. The roster's word on a joiner is the last event of the inviter's log, so it
 * arrives after the whole history: joining a library of a million entries waits while that
 * history flows, as a clone does, instead of calling a join that is still syncing a failure.
 */
export function onRoster(lib: Library, dev: string, stallMs: number, capMs: number): Promise<boolean> {
  // Asked after every event of the join's history: prepared once.
  const on = (): boolean => !!stmt(lib.db, 'SELECT 1 FROM devices WHERE dev = ?').get(dev);
  if (on()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(stall);
      clearTimeout(cap);
      stop();
      resolve(v);
    };
    let stall = setTimeout(() => done(on()), stallMs);
    const cap = setTimeout(() => done(on()), capMs);
    const stop = lib.onEvent(() => {
      if (on()) return done(true);
      clearTimeout(stall);
      stall = setTimeout(() => done(on()), stallMs);
    });
  });
}
