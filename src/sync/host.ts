// What the network, pairing and the peer status read of the daemon: the Core satisfies it, and
// nothing under sync/ imports the Core (the import cycle through core.ts is gone).
import type { AnyActorRef } from 'xstate';
import type { DeviceIdentity } from '../identity.js';
import type { Library } from '../library/library.js';

export interface NetHost {
  readonly dataDir: string;
  readonly device: DeviceIdentity;
  readonly libraries: {
    list(): Library[];
    /** Unsorted: for lookups. */
    all(): Library[];
    resolve(ref?: string): Library;
    onOpen(fn: (lib: Library) => void): void;
    join(id: string, inviter: { dev: string; pubkey: Uint8Array }): Promise<Library>;
  };
  /** The actor system, once it runs: the peer and session actors live there. */
  readonly services: { readonly network: AnyActorRef; readonly sync: AnyActorRef } | undefined;
  readonly log: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void } | undefined;
}
