// Both BLAKE3 backends hash alike, and on both a digest leaves the hasher going: a transfer
// digests the file's hasher after each chunk (the BLAKE3 of the file through it) and goes on.
import test from 'ava';
import { execFileSync } from 'node:child_process';

const BLAKE3 = new URL('../../src/jobs/blake3.js', import.meta.url).href;

// Digests after each of three parts, then the one-shot hash of all three, in a process of its own
// (the backend is chosen once per process).
const SCRIPT = `
  const { createBlake3, blake3Backend } = await import(${JSON.stringify(BLAKE3)});
  const parts = [Buffer.alloc(1500, 1), Buffer.alloc(70000, 2), Buffer.alloc(3, 3)];
  const h = await createBlake3(256);
  const each = parts.map((p) => (h.update(p), h.digest()));
  const whole = await createBlake3(256);
  whole.update(Buffer.concat(parts));
  console.log(JSON.stringify({ backend: blake3Backend(), each, whole: whole.digest() }));`;

const run = (env: Record<string, string>): { backend: string; each: string[]; whole: string } =>
  JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }),
  ) as { backend: string; each: string[]; whole: string };

test('a digest does not end the hasher, on the native backend and on hash-wasm alike', (t) => {
  const wasm = run({ SD_BLAKE3: 'wasm' });
  t.is(wasm.backend, 'wasm');
  t.is(wasm.each[2], wasm.whole, 'digested along the way, the last is the whole');
  const native = run({});
  // The native binding ships with the npm package for this platform: without it, this would compare hash-wasm with itself.
  t.is(native.backend, 'native');
  t.deepEqual(native.each, wasm.each);
  t.is(native.whole, wasm.whole);
});
