// The live tree of the service actors, kept from XState's inspection stream: each actor, its
// parent, its state and since when it has been in it (`sd status --services`), and every state
// change as it happens (`sd events --kind service`).
import type { InspectionEvent } from 'xstate';

export interface ServiceNode {
  id: string;
  /** Depth in the tree: the services are 1, their children 2. */
  depth: number;
  state: string;
  since: number;
}

interface Entry {
  id: string;
  parent: string | undefined;
  state: string;
  since: number;
}

const stateName = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : JSON.stringify(value ?? null)
        .replace(/["{}]/g, '')
        .replace(/:/g, '.');

export interface ServiceTree {
  inspect(e: InspectionEvent): void;
  nodes(): ServiceNode[];
  /** Called on every state change of any actor. */
  onChange(fn: (n: ServiceNode) => void): void;
}

export function serviceTree(): ServiceTree {
  const actors = new Map<string, Entry>();
  const listeners: ((n: ServiceNode) => void)[] = [];
  const depth = (e: Entry): number => (e.parent && actors.has(e.parent) ? depth(actors.get(e.parent)!) + 1 : 0);
  return {
    inspect: (e) => {
      const ref = e.actorRef as unknown as { id: string; sessionId: string; _parent?: { sessionId: string } };
      if (e.type === '@xstate.actor') {
        actors.set(ref.sessionId, { id: ref.id, parent: ref._parent?.sessionId, state: '', since: Date.now() });
        return;
      }
      if (e.type !== '@xstate.snapshot') return;
      const snap = e.snapshot as { status?: string; value?: unknown };
      const entry = actors.get(ref.sessionId);
      if (!entry) return;
      const ended = snap.status === 'stopped' || snap.status === 'done' || snap.status === 'error';
      // A machine that reaches a final state (a job completed or cancelled) says so before it leaves.
      const state = ended && snap.status !== 'done' ? '' : 'value' in snap ? stateName(snap.value) : 'active';
      if (state && state !== entry.state) {
        entry.state = state;
        entry.since = Date.now();
        const node = { id: entry.id, depth: depth(entry), state, since: entry.since };
        for (const fn of listeners) fn(node);
      }
      if (ended) actors.delete(ref.sessionId);
    },
    nodes: () => {
      // Depth-first, children after their parent, siblings by id.
      const kids = new Map<string | undefined, [string, Entry][]>();
      for (const [sid, e] of actors) {
        const p = e.parent && actors.has(e.parent) ? e.parent : undefined;
        kids.set(p, [...(kids.get(p) ?? []), [sid, e]]);
      }
      const out: ServiceNode[] = [];
      const walk = (parent: string | undefined, d: number): void => {
        for (const [sid, e] of (kids.get(parent) ?? []).sort((a, b) => a[1].id.localeCompare(b[1].id))) {
          out.push({ id: e.id, depth: d, state: e.state, since: e.since });
          walk(sid, d + 1);
        }
      };
      walk(undefined, 0);
      return out;
    },
    onChange: (fn) => void listeners.push(fn),
  };
}
