// Transfers in flight, for `sd sync status`: bytes done of total, a rate over the last seconds
// and the ETA it gives. In memory only: a transfer's durable state is its job's checkpoint.
import { holdFreedMemory } from '../native/malloc.js';

export interface TransferView {
  id: string;
  direction: 'in' | 'out';
  peer: string;
  library: string;
  /** What moves now (a path on the source). */
  current: string;
  bytesDone: number;
  bytesTotal: number;
  files: number;
  filesDone: number;
  /** Bytes a second over the last few seconds. */
  rate: number;
  /** Seconds left at that rate; null while unknown. */
  eta: number | null;
  state: string;
}

export class Progress {
  bytesDone = 0;
  filesDone = 0;
  current = '';
  state = 'waiting';
  private samples: [number, number][] = [];

  constructor(
    readonly id: string,
    readonly direction: 'in' | 'out',
    readonly peer: string,
    readonly library: string,
    public bytesTotal: number,
    public files: number,
  ) {}

  add(bytes: number): void {
    this.bytesDone += bytes;
    const now = Date.now();
    const last = this.samples[this.samples.length - 1];
    if (last && now - last[0] < 100) last[1] = this.bytesDone;
    else this.samples.push([now, this.bytesDone]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
  }

  get rate(): number {
    const s = this.samples;
    if (s.length < 2) return 0;
    const [t0, b0] = s[0]!;
    const now = Date.now();
    return now > t0 ? Math.round(((this.bytesDone - b0) * 1000) / (now - t0)) : 0;
  }

  view(): TransferView {
    const rate = this.rate;
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    return {
      id: this.id,
      direction: this.direction,
      peer: this.peer,
      library: this.library,
      current: this.current,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      files: this.files,
      filesDone: this.filesDone,
      rate,
      eta: rate > 0 ? Math.ceil(left / rate) : null,
      state: this.state,
    };
  }
}

export class TransferBoard {
  /** Keyed by the entry itself: two transfers with the same id (a peer's request ids are its own) never collide. */
  private readonly list = new Set<Progress>();
  private release: (() => void) | undefined;
  /** Chunk bytes this daemon sent and received since it started (a resume that sends again shows here). */
  readonly bytes = { sent: 0, received: 0 };

  open(p: Progress): Progress {
    this.list.add(p);
    // While content streams, freed buffers stay with the process for the next ones (malloc.ts).
    this.release ??= holdFreedMemory();
    return p;
  }

  close(p: Progress): void {
    this.list.delete(p);
    if (this.list.size === 0) {
      this.release?.();
      this.release = undefined;
    }
  }

  views(): TransferView[] {
    return [...this.list].map((p) => p.view());
  }
}
