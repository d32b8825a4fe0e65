// The line protocol between a bench and the devices it runs in child processes (bench/nat,
// bench/syncthing): one JSON request a line on the child's stdin, one JSON answer a line on its
// stdout, matched by `seq`.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

interface Answer {
  ok: boolean;
  v?: unknown;
  error?: string;
}

/**
 * The child's side: answers each request with `handle`, one after another, except those
 * `immediate` names (polls answered at once, also while a long request runs). When stdin ends,
 * `close` runs after the last answer and the process exits.
 */
export function serveLines<R extends { op: string }>(
  handle: (r: R) => Promise<unknown>,
  close: () => Promise<void> | undefined,
  immediate: (op: string) => boolean = () => false,
): void {
  const rl = createInterface({ input: process.stdin });
  let chain: Promise<void> = Promise.resolve();
  rl.on('line', (line) => {
    const req = JSON.parse(line) as R & { seq: number };
    const answer = async (): Promise<void> => {
      try {
        process.stdout.write(`${JSON.stringify({ seq: req.seq, ok: true, v: await handle(req) })}\n`);
      } catch (e) {
        process.stdout.write(`${JSON.stringify({ seq: req.seq, ok: false, error: String((e as Error).message) })}\n`);
      }
    };
    if (immediate(req.op)) void answer();
    else chain = chain.then(answer);
  });
  rl.on('close', () => void chain.then(close).then(() => process.exit(0)));
}

/** The bench's side: requests to one child; a child that exited fails every call waiting on it. */
export class ChildClient {
  private seq = 0;
  private readonly waiting = new Map<number, (r: Answer) => void>();

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.once('exit', () => {
      for (const w of this.waiting.values()) w({ ok: false, error: 'the process exited' });
      this.waiting.clear();
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Answer & { seq: number };
      this.waiting.get(m.seq)?.(m);
      this.waiting.delete(m.seq);
    });
  }

  async call<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const seq = ++this.seq;
    const r = await new Promise<Answer>((resolve) => {
      if (this.proc.exitCode !== null) return resolve({ ok: false, error: 'the process exited' });
      this.waiting.set(seq, resolve);
      this.proc.stdin!.write(`${JSON.stringify({ seq, op, ...args })}\n`);
    });
    if (!r.ok) throw new Error(`${this.name}: ${op}: ${r.error}`);
    return r.v as T;
  }
}
