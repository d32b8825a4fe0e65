// The daemon's services as one XState actor system: a root that invokes JobManager, SyncService
// and NetworkService (systemIds jobs, sync, network: they address each other by those). The log
// feeds them: every event a library commits reaches the root as COMMITTED once its transaction has
// committed, and goes on to the services that react to it.
import { randomUUID } from 'node:crypto';
import { createActor, enqueueActions, setup, type AnyActorRef } from 'xstate';
import type { EventBus } from '../bus.js';
import type { Library } from '../library/library.js';
import type { JobsDeps } from './jobs/effects.js';
import type { StoredEvent } from '../events/log.js';
import { liveJobsMachine } from './jobs/effects.js';
import { liveNetworkMachine } from './network/effects.js';
import { liveSyncMachine } from './sync/effects.js';
import type { Network } from '../sync/network.js';
import { serviceTree, type ServiceNode } from './tree.js';

/** Jobs that run at once. */
export const JOB_SLOTS = 2;

export interface Services {
  root: AnyActorRef;
  jobs: AnyActorRef;
  sync: AnyActorRef;
  network: AnyActorRef;
  /** Each service's state, by name (what `sd status` shows). */
  states(): Record<string, string>;
  /** Every actor with its state and since when (`sd status --services`). */
  tree(): ServiceNode[];
  /** Hands a committed event to the services. */
  committed(lib: string, ev: StoredEvent): void;
  /** Hands a committed group to the services: one message for the sessions, whatever its size. */
  committedGroup(lib: string, evs: StoredEvent[]): void;
  stop(): Promise<void>;
}

export type CommittedEvent = {
  type: 'COMMITTED';
  lib: string;
  dev: string;
  seq: number;
  evType: string;
  body: unknown;
};

export type CommittedGroup = {
  type: 'COMMITTED_GROUP';
  lib: string;
  events: { dev: string; seq: number; evType: string; body: unknown }[];
};

/** What the services read of the daemon (the Core satisfies it; nothing here imports it). */
export interface ServicesHost {
  readonly device: { readonly id: string };
  readonly libraries: { list(): Library[]; all(): Library[] };
  readonly jobs: { readonly deps: JobsDeps };
  readonly bus: EventBus;
  readonly log: { warn(o: object, msg?: string): void } | undefined;
}

export async function startServices(core: ServicesHost, network: Network): Promise<Services> {
  const root = setup({
    types: {} as { events: CommittedEvent | CommittedGroup | { type: 'STOP' } },
    actors: {
      jobs: liveJobsMachine(core.jobs.deps),
      sync: liveSyncMachine({
        library: (id) => core.libraries.all().find((l) => l.id === id),
        memberOf: (lib, dev) => {
          const l = core.libraries.all().find((x) => x.id === lib);
          return !!l && dev !== core.device.id && network.memberOf(l, dev);
        },
        isMember: (dev) => network.isMember(dev),
        log: network.refusalLog,
      }),
      network: liveNetworkMachine(network.deps()),
    },
  }).createMachine({
    id: 'vdfs',
    invoke: [
      {
        id: 'JobManager',
        systemId: 'jobs',
        src: 'jobs',
        input: { self: core.device.id, concurrency: JOB_SLOTS, newId: randomUUID },
      },
      {
        id: 'SyncService',
        systemId: 'sync',
        src: 'sync',
        input: { libraries: () => core.libraries.list().map((l) => l.id) },
      },
      {
        id: 'NetworkService',
        systemId: 'network',
        src: 'network',
        input: { self: core.device.id, webrtc: false },
      },
    ],
    on: {
      COMMITTED: {
        // Sessions announce every event; JobManager cares for this device's locations only.
        actions: enqueueActions(({ event, enqueue }) => {
          enqueue.sendTo('SyncService', event);
          if (event.evType.startsWith('location.')) enqueue.sendTo('JobManager', event);
        }),
      },
      COMMITTED_GROUP: {
        actions: enqueueActions(({ event, enqueue }) => {
          enqueue.sendTo('SyncService', event);
          for (const e of event.events)
            if (e.evType.startsWith('location.'))
              enqueue.sendTo('JobManager', { type: 'COMMITTED', lib: event.lib, ...e } satisfies CommittedEvent);
        }),
      },
      STOP: {
        actions: enqueueActions(({ enqueue }) => {
          for (const id of ['NetworkService', 'SyncService', 'JobManager']) enqueue.sendTo(id, { type: 'STOP' });
        }),
      },
    },
  });
  const tracker = serviceTree();
  // Every actor's transitions, the jobs' and the peers' too, stream as `sd events --kind service`.
  tracker.onChange((n) =>
    core.bus.publish({ kind: 'service', service: n.id, depth: n.depth, state: n.state, since: n.since }),
  );
  const actor = createActor(root, { inspect: tracker.inspect });
  actor.subscribe({ error: (e) => core.log?.warn({ err: (e as Error).message }, 'a service failed') });
  actor.start();
  const child = (id: string): AnyActorRef => (actor.getSnapshot().children as Record<string, AnyActorRef>)[id]!;
  const names = ['JobManager', 'SyncService', 'NetworkService'];
  return {
    root: actor,
    jobs: child('JobManager'),
    sync: child('SyncService'),
    network: child('NetworkService'),
    states: () =>
      Object.fromEntries(
        names.map((n) => {
          const v = child(n)?.getSnapshot().value as unknown;
          return [n, typeof v === 'string' ? v : JSON.stringify(v).replace(/"/g, '')];
        }),
      ),
    tree: () => tracker.nodes(),
    committed: (lib, ev) =>
      actor.send({ type: 'COMMITTED', lib, dev: ev.dev, seq: ev.seq, evType: ev.type, body: ev.body }),
    committedGroup: (lib, evs) =>
      actor.send({
        type: 'COMMITTED_GROUP',
        lib,
        events: evs.map((ev) => ({ dev: ev.dev, seq: ev.seq, evType: ev.type, body: ev.body })),
      }),
    stop: async () => {
      actor.send({ type: 'STOP' });
      actor.stop();
    },
  };
}
