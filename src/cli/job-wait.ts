// --wait: follow a job to its end. A progress bar (files/s, phase, ETA) on a TTY; without a
// TTY nothing but the final line.
import { SdError } from '../errors.js';
import { streamEvents, type CliContext } from './context.js';
import type { BusJob } from '../bus.js';
import { barFormat, type BarPayload } from './progress.js';

const FINAL = new Set(['completed', 'failed', 'cancelled', 'paused']);

/** What the wait reads of a job message (or of `job.info` when the job ended before it listened). */
type JobMsg = Pick<BusJob, 'job' | 'state' | 'phase' | 'done' | 'total' | 'rate' | 'errors'>;

export async function waitForJob(ctx: CliContext, id: string, commandOutcome: unknown): Promise<void> {
  const rpc = await ctx.rpc();
  const tty = !!process.stderr.isTTY && !ctx.json;
  // Loaded only when a bar is shown: it is not worth its start-up cost elsewhere.
  const cliProgress = tty ? (await import('cli-progress')).default : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        { format: barFormat(cliProgress.Format.BarFormat), hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let started = false;
  let last: JobMsg | undefined;
  const finished = new Promise<JobMsg>((resolve) => {
    const s = streamEvents(rpc, { kinds: ['job'], library: ctx.flags.library }, (m) => {
      const x = ctx.safe(m);
      if (x.job !== id) return;
      last = x;
      if (bar) {
        const total = x.total ?? Math.max(x.done ?? 0, 1);
        const payload: BarPayload = { phase: x.phase ?? x.state, rate: x.rate ?? 0, totalKnown: x.total !== undefined };
        if (!started) {
          bar.start(total, x.done ?? 0, payload);
          started = true;
        }
        bar.setTotal(total);
        bar.update(x.done ?? 0, payload);
      }
      if (FINAL.has(x.state)) {
        s.cancel();
        resolve(x);
      }
    });
    // The job may have finished before we subscribed.
    void ctx.query('job.info', { ref: id }).then((j) => {
      if (FINAL.has(j.state)) {
        s.cancel();
        resolve({ job: id, state: j.state, done: j.done, errors: j.errors, phase: j.phase ?? undefined });
      }
    });
  });
  const end = await finished;
  if (started) bar!.stop();
  const info = await ctx.query('job.info', { ref: id });
  void last;
  ctx.print({ outcome: commandOutcome, job: info }, () => {
    const p = ctx.paint;
    const secs = (info.runMs / 1000).toFixed(1);
    if (info.state === 'completed')
      return `${p.green('✓')} indexed ${info.done} files in ${secs} s${info.errors ? `, ${p.yellow(`${info.errors} errors`)} (see \`sd job info ${id.slice(0, 8)}\`)` : ''}`;
    return `${p.red('!')} job ${id.slice(0, 8)} ${info.state}${info.message ? `: ${info.message}` : ''}`;
  });
  if (end.state !== 'completed') {
    process.exitCode = 1;
    if (end.state === 'failed')
      throw new SdError('E_JOB_FAILED', `the job failed: ${info.message ?? 'see sd job info'}`);
  }
}
