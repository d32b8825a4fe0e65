// The C library's functions Node has no binding for, reached through koffi (an optional
// dependency). Loaded once per thread, on first use; undefined where koffi or glibc is missing
// (not installed, musl, not Linux), and every caller then keeps its portable path.
import { createRequire } from 'node:module';

/** The part of koffi's API used here. */
export interface Koffi {
  load(name: string): { func(signature: string): (...args: unknown[]) => number };
  errno(): number;
}

let loaded: { koffi: Koffi; lib: ReturnType<Koffi['load']> } | null | undefined;

/** glibc through koffi, or undefined. */
export function libc(): { koffi: Koffi; lib: ReturnType<Koffi['load']> } | undefined {
  if (loaded === undefined) {
    loaded = null;
    if (process.platform === 'linux')
      try {
        const koffi = createRequire(import.meta.url)('koffi') as Koffi;
        loaded = { koffi, lib: koffi.load('libc.so.6') };
      } catch {
        // koffi not installed, or no glibc: callers fall back
      }
  }
  return loaded ?? undefined;
}

/**
 * One glibc function, loaded on its first call; where koffi, glibc or the function is missing,
 * every call returns undefined (the caller keeps its portable path).
 */
export function lazyLibcFunction(signature: string): (...args: unknown[]) => number | undefined {
  let fn: ((...args: unknown[]) => number) | null | undefined;
  return (...args) => {
    if (fn === undefined) fn = libcFunction(signature) ?? null;
    return fn?.(...args);
  };
}

/** One glibc function through koffi, or undefined where koffi, glibc or that function is missing. */
export function libcFunction(signature: string): ((...args: unknown[]) => number) | undefined {
  try {
    return libc()?.lib.func(signature);
  } catch {
    return undefined; // a C library without it (an older glibc)
  }
}

/** A path for a C function taking `const char *`: koffi ends a string with a NUL, not bytes. */
export const cPath = (path: string | Buffer): string | Buffer =>
  typeof path === 'string' ? path : Buffer.concat([path, Buffer.alloc(1)]);
