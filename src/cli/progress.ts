// The progress bar of --wait (cli-progress). Its ETA appears only once it means something: a
// known total, some progress, a rate, and two seconds of history; never "ETA NFs" or "ETA LLs"
// (cli-progress's padding of INF and NULL).
import { duration } from './format.js';

export interface BarParams {
  value: number;
  total: number;
  progress: number;
  eta: number | string;
  startTime: number;
}
export interface BarPayload {
  phase: string;
  rate: number;
  /** False while the job does not know how many files there are (the bar's total is a guess). */
  totalKnown: boolean;
}
type FormatBar = (progress: number, options: object) => string;

export function etaText(p: BarParams, payload: BarPayload, now = Date.now()): string {
  const eta = typeof p.eta === 'number' ? p.eta : Number.NaN;
  const meaningful =
    payload.totalKnown &&
    payload.rate > 0 &&
    p.value > 0 &&
    p.value < p.total &&
    now - p.startTime >= 2000 &&
    Number.isFinite(eta) &&
    eta > 0;
  return meaningful ? `  ETA ${duration(Math.max(1000, eta * 1000))}` : '';
}

/** A cli-progress `format` function: phase, bar, counts, rate and (when it means something) ETA. */
export function barFormat(formatBar: FormatBar) {
  return (options: object, params: BarParams, payload: BarPayload): string =>
    ` ${payload.phase.padEnd(9)} |${formatBar(params.progress, options)}| ${params.value}/${payload.totalKnown ? params.total : '?'} files  ${payload.rate}/s${etaText(params, payload)}`;
}
