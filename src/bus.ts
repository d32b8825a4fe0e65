// The in-process event bus that actors and RPC subscribers listen to.
import { EventEmitter } from 'node:events';

export interface BusEvent {
  kind: 'event';
  lib: string;
  dev: string;
  seq: number;
  type: string;
  at: number;
  summary: string;
}

export interface BusJob {
  kind: 'job';
  lib: string;
  job: string;
  jobKind: string;
  state: string;
  phase?: string;
  done?: number;
  total?: number;
  rate?: number;
  errors?: number;
}

export interface BusService {
  kind: 'service';
  /** The actor's id (JobManager, job:<id>, peer:<device>, ...). */
  service: string;
  /** 1 for the three services, 2 for their children... */
  depth: number;
  state: string;
  /** When it entered the state (ms). */
  since: number;
}

export type BusMessage = BusEvent | BusJob | BusService;

export class EventBus {
  private readonly ee = new EventEmitter();
  constructor() {
    this.ee.setMaxListeners(1000);
  }
  publish(msg: BusMessage): void {
    this.ee.emit('message', msg);
  }
  /** Whether anyone listens: a publisher may skip building a message nobody reads. */
  get listened(): boolean {
    return this.ee.listenerCount('message') > 0;
  }
  subscribe(fn: (msg: BusMessage) => void): () => void {
    this.ee.on('message', fn);
    return () => this.ee.off('message', fn);
  }
}
