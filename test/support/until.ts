// The one polling wait of the tests: bounded, named, for a condition that may be async.

/** Polls `cond` every `every` ms until it holds; after `ms` it throws, naming `what`. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 20_000,
  every = 20,
): Promise<void> {
  if (!(await eventually(cond, ms, every))) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Polls `cond` like `until`, and says whether it held within `ms` instead of throwing. */
export async function eventually(cond: () => boolean | Promise<boolean>, ms = 20_000, every = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}
