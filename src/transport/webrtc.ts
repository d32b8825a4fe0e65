// A node-datachannel data channel as a MessageTransport. The offer, answer and candidates go
// through a `signal` callback (in sd they ride an existing link). The channel is ordered, but
// the reliable layer above does not trust it: node-datachannel can lose messages.
import { createRequire } from 'node:module';
import type { DataChannel, DescriptionType, PeerConnection } from 'node-datachannel';
import { SdError } from '../errors.js';
import type { MessageTransport } from './types.js';

// Loaded on first use: a daemon that never opens a WebRTC link does not map libdatachannel.
type Ndc = typeof import('node-datachannel');
let loaded: Ndc | undefined;
const ndc = (): Ndc => (loaded ??= createRequire(import.meta.url)('node-datachannel') as Ndc);

export type RtcSignal =
  | { type: 'description'; sdp: string; descType: DescriptionType }
  | { type: 'candidate'; candidate: string; mid: string };

export interface WebRtcOptions {
  /** The offerer creates the data channel; the answerer waits for it. */
  role: 'offerer' | 'answerer';
  signal(s: RtcSignal): void;
  /** 127.0.0.1 for tests on one machine; undefined lets ICE use every interface. */
  bindAddress?: string;
  iceServers?: string[];
  timeoutMs?: number;
  name?: string;
}

export interface WebRtcSession {
  /** Feed what the other side's `signal` produced. */
  receive(s: RtcSignal): void;
  /** Resolves when the data channel is open. */
  transport: Promise<MessageTransport>;
  close(): void;
}

const MAX_MESSAGE = 256 * 1024;
const LOW_WATER = 256 * 1024;

// node-datachannel's native threads keep the process alive until cleanup(), which closes
// every connection in the process: we call it only when our last connection has closed.
// The set also holds strong references: a garbage-collected channel closes itself.
const live = new Set<{ pc: PeerConnection; dc?: DataChannel }>();
function release(entry: { pc: PeerConnection; dc?: DataChannel }): void {
  if (!live.delete(entry)) return;
  if (live.size === 0) setTimeout(() => live.size === 0 && ndc().cleanup(), 50);
}

export function openWebRtc(opts: WebRtcOptions): WebRtcSession {
  const pc = new (ndc().PeerConnection)(opts.name ?? opts.role, {
    iceServers: opts.iceServers ?? [],
    bindAddress: opts.bindAddress,
    maxMessageSize: MAX_MESSAGE,
  });
  const entry: { pc: PeerConnection; dc?: DataChannel } = { pc };
  live.add(entry);
  let haveRemote = false;
  const early: { candidate: string; mid: string }[] = [];
  let msgCb: ((d: Uint8Array) => void) | undefined;
  const inbox: Uint8Array[] = [];
  let closeCb: (r: string) => void = () => {};
  let drainCb: () => void = () => {};
  let closedReason: string | undefined;
  let opened = false;
  let settle: { resolve: (t: MessageTransport) => void; reject: (e: Error) => void };
  const transport = new Promise<MessageTransport>((resolve, reject) => (settle = { resolve, reject }));
  void transport.catch(() => {}); // the caller may close before awaiting it
  const timer = setTimeout(
    () => finish(`E_WEBRTC_TIMEOUT: the data channel did not open within ${opts.timeoutMs ?? 15_000} ms`),
    opts.timeoutMs ?? 15_000,
  );

  function finish(reason: string): void {
    if (closedReason !== undefined) return;
    closedReason = reason;
    clearTimeout(timer);
    try {
      entry.dc?.close();
      pc.close();
    } catch {
      // already closed by the other side
    }
    release(entry);
    if (!opened) settle.reject(new SdError(reason.startsWith('E_') ? reason.split(':')[0]! : 'E_WEBRTC', reason));
    else closeCb(reason);
  }

  const t: MessageTransport = {
    kind: 'webrtc',
    maxMessageSize: MAX_MESSAGE,
    get closed() {
      return closedReason !== undefined;
    },
    send(data) {
      if (closedReason !== undefined || !entry.dc) throw new SdError('E_LINK_CLOSED', 'the data channel is closed');
      entry.dc.sendMessageBinary(data);
    },
    onMessage(cb) {
      msgCb = cb;
      for (const d of inbox.splice(0)) cb(d);
    },
    onClose: (cb) => void (closeCb = cb),
    onDrain: (cb) => void (drainCb = cb),
    bufferedAmount: () => (entry.dc && closedReason === undefined ? entry.dc.bufferedAmount() : 0),
    close: (reason = 'closed') => finish(reason),
  };

  function attach(dc: DataChannel): void {
    entry.dc = dc;
    dc.setBufferedAmountLowThreshold(LOW_WATER);
    dc.onBufferedAmountLow(() => closedReason === undefined && drainCb());
    dc.onMessage((m) => {
      if (closedReason !== undefined) return;
      const u =
        typeof m === 'string'
          ? new TextEncoder().encode(m)
          : m instanceof ArrayBuffer
            ? new Uint8Array(m)
            : new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
      if (msgCb) msgCb(u);
      else inbox.push(u);
    });
    dc.onClosed(() => finish('the data channel closed'));
    dc.onError((e) => finish(`E_TRANSPORT: ${e}`));
    const open = (): void => {
      if (opened || closedReason !== undefined) return;
      opened = true;
      clearTimeout(timer);
      settle.resolve(t);
    };
    dc.onOpen(open);
    if (dc.isOpen()) open();
  }

  pc.onLocalDescription((sdp, descType) => opts.signal({ type: 'description', sdp, descType }));
  pc.onLocalCandidate((candidate, mid) => opts.signal({ type: 'candidate', candidate, mid }));
  pc.onStateChange((s) => (s === 'failed' || s === 'closed') && finish(`the peer connection ${s}`));
  if (opts.role === 'offerer') attach(pc.createDataChannel('vdfs', {}));
  else pc.onDataChannel((dc) => (entry.dc ? dc.close() : attach(dc)));

  return {
    transport,
    close: () => finish('closed'),
    receive(s) {
      if (closedReason !== undefined) return;
      try {
        if (s.type === 'description') {
          pc.setRemoteDescription(s.sdp, s.descType);
          haveRemote = true;
          for (const c of early.splice(0)) pc.addRemoteCandidate(c.candidate, c.mid);
        } else if (!haveRemote) early.push(s);
        else pc.addRemoteCandidate(s.candidate, s.mid);
      } catch (e) {
        finish(`E_WEBRTC: bad signal: ${(e as Error).message}`);
      }
    },
  };
}
