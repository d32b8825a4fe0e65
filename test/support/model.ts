// Model-based tests of our XState machines: xstate/graph enumerates every state and transition the
// machine can reach for the events a test lists; each transition is then replayed, by its shortest
// path, on a real actor whose effects are stubs and whose delays run on a simulated clock.
import type { ExecutionContext } from 'ava';
import { createActor, SimulatedClock, type AnyStateMachine, type EventObject, type SnapshotFrom } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';

export interface ModelOptions<M extends AnyStateMachine> {
  machine: M;
  input?: unknown;
  /** The events to try in a state (dynamic: a close event names the current link). */
  events: (snap: SnapshotFrom<M>) => EventObject[];
  /** What makes two snapshots the same state for the walk (value plus the context that matters). */
  key: (snap: SnapshotFrom<M>) => string;
  /** Delay of an `xstate.after` event, to advance the simulated clock by. */
  delayOf?: (event: EventObject, snap: SnapshotFrom<M>) => number;
}

const valueOf = (snap: { value: unknown }): string => JSON.stringify(snap.value);

/** Every (state, event) -> state edge reachable with the listed events. */
export function edgesOf<M extends AnyStateMachine>(o: ModelOptions<M>) {
  const adj = getAdjacencyMap(o.machine, {
    input: o.input as never,
    events: o.events as never,
    serializeState: (s) => o.key(s as SnapshotFrom<M>),
    serializeEvent: (e) => JSON.stringify(e, (_k, v) => (typeof v === 'object' && v?.peerId ? v.peerId : v)),
  });
  const edges: { from: string; event: EventObject; to: string }[] = [];
  for (const [from, v] of Object.entries(adj))
    for (const t of Object.values(v.transitions as Record<string, { event: EventObject; state: { value: unknown } }>))
      if (valueOf(v.state as { value: unknown }) !== valueOf(t.state) || t.event.type)
        edges.push({ from, event: t.event, to: valueOf(t.state) });
  return { adj, edges };
}

/** The state values the machine declares (leaf paths such as {"linked":"ws"}). */
export function declaredStates(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  const walk = (node: { states: Record<string, unknown>; key: string }, path: string[]): void => {
    const kids = Object.entries(node.states ?? {});
    if (kids.length === 0) {
      let v: unknown = path[path.length - 1];
      for (let i = path.length - 2; i >= 0; i--) v = { [path[i]!]: v };
      out.push(JSON.stringify(v));
      return;
    }
    for (const [k, child] of kids) walk(child as never, [...path, k]);
  };
  walk(machine.root as never, []);
  return out;
}

/**
 * Walks every reachable state by its shortest path on a real actor (stub effects, simulated clock)
 * and checks the actor is where the model says after every step. Returns the states visited.
 */
export function walkEveryState<M extends AnyStateMachine>(t: ExecutionContext, o: ModelOptions<M>): Set<string> {
  const paths = getShortestPaths(o.machine, {
    input: o.input as never,
    events: o.events as never,
    serializeState: (s) => o.key(s as SnapshotFrom<M>),
  });
  const visited = new Set<string>();
  for (const path of paths) {
    const clock = new SimulatedClock();
    const actor = createActor(o.machine, { input: o.input as never, clock } as never);
    actor.start();
    for (const step of path.steps) {
      const snap = actor.getSnapshot() as SnapshotFrom<M>;
      if (step.event.type.startsWith('xstate.after.')) clock.increment(o.delayOf?.(step.event, snap) ?? 60_000);
      else if (step.event.type !== 'xstate.init') actor.send(step.event);
      const got = valueOf(actor.getSnapshot());
      const want = valueOf(step.state as { value: unknown });
      if (got !== want) t.fail(`after ${step.event.type} from ${valueOf(snap)}: actor in ${got}, model in ${want}`);
    }
    visited.add(valueOf(actor.getSnapshot()));
    actor.stop();
  }
  return visited;
}
