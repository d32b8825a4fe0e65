// One authenticated, ordered message channel to one remote device, as the link hands it over
// (a PeerLink channel in the daemon, a memory pair in tests).
export interface SyncChannel {
  /** The remote device the link authenticated. */
  readonly peerId: string;
  send(bytes: Uint8Array): void;
  onMessage(cb: (bytes: Uint8Array) => void): void;
  onClose(cb: () => void): void;
}
