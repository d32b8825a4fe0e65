// The daemon's services as XState actors, started in order (JobManager, SyncService,
// NetworkService) and stopped in reverse. Their states are what `sd status` shows.
import { createActor, type AnyActorRef } from 'xstate';
import type { Core } from '../core.js';
import { jobManagerMachine } from './job-manager.js';
import { networkMachine } from './network.js';
import { syncMachine } from './sync.js';

export interface Services {
  jobs: AnyActorRef;
  sync: AnyActorRef;
  network: AnyActorRef;
  states(): Record<string, string>;
  stop(): Promise<void>;
}

export async function startServices(core: Core): Promise<Services> {
  const order: [string, AnyActorRef][] = [];
  const start = (name: string, ref: AnyActorRef): AnyActorRef => {
    ref.subscribe((snap: { value: unknown }) =>
      core.bus.publish({ kind: 'service', service: name, state: String(snap.value) }),
    );
    ref.start();
    order.push([name, ref]);
    return ref;
  };
  const jobs = start('JobManager', createActor(jobManagerMachine));
  const sync = start('SyncService', createActor(syncMachine));
  const network = start('NetworkService', createActor(networkMachine));
  return {
    jobs,
    sync,
    network,
    states: () => Object.fromEntries(order.map(([n, r]) => [n, String(r.getSnapshot().value)])),
    stop: async () => {
      for (const [, ref] of [...order].reverse()) {
        ref.send({ type: 'STOP' });
        ref.stop();
      }
    },
  };
}
