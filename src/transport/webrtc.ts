// A node-datachannel data channel as a MessageTransport. The offer, answer and candidates go
// through a `signal` callback (in sd they ride an existing link). The channel is reliable and
// ordered (SCTP), so no second reliability layer runs above it; what it needs is a strong
// reference for as long as it is open (a channel that only a closure holds is garbage-collected
// and closes itself, which once looked like lost messages), the peer's maxMessageSize, and
// bufferedAmount for backpressure.
import { createRequire } from 'node:module';
import type { DataChannel, DescriptionType, PeerConnection } from 'node-datachannel';
import { SdError } from '../errors.js';
import type { CloseReason, MessageTransport } from './types.js';
import { codeOf } from '../error-codes.js';

/** A STUN or TURN server in node-datachannel's object form (sync/ice.ts builds them). */
export interface RtcIceServer {
  hostname: string;
  port: number;
  username?: string;
  password?: string;
  relayType?: 'TurnUdp' | 'TurnTcp' | 'TurnTls';
}

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
  iceServers?: (string | RtcIceServer)[];
  timeoutMs?: number;
  name?: string;
  /** Shown in the sync status: the address of the link the offer came over. */
  remoteAddress?: string;
}

export interface WebRtcSession {
  /** Feed what the other side's `signal` produced. */
  receive(s: RtcSignal): void;
  /** Resolves when the data channel is open. */
  transport: Promise<MessageTransport>;
  close(): void;
}

/** What we offer; the transport uses the smaller of this and what the peer offers. */
const MAX_MESSAGE = 256 * 1024;

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
  /** The far side's signalled candidates by address: a peer-reflexive one found here is of that type. */
  const remoteTypes = new Map<string, string>();
  let msgCb: ((d: Uint8Array) => void) | undefined;
  const inbox: Uint8Array[] = [];
  let closeCb: (r: CloseReason) => void = () => {};
  let drainCb: () => void = () => {};
  let lowWater = 0;
  let closedReason: CloseReason | undefined;
  let maxMessageSize = MAX_MESSAGE;
  /** Runs when the channel reports closed after we closed it. */
  let closedHook: (() => void) | undefined;
  let opened = false;
  let settle: { resolve: (t: MessageTransport) => void; reject: (e: Error) => void };
  const transport = new Promise<MessageTransport>((resolve, reject) => (settle = { resolve, reject }));
  void transport.catch(() => {}); // the caller may close before awaiting it
  const timer = setTimeout(
    () =>
      finish({
        code: 'E_WEBRTC_TIMEOUT',
        message: `the data channel did not open within ${opts.timeoutMs ?? 15_000} ms`,
      }),
    opts.timeoutMs ?? 15_000,
  );

  function finish(reason: CloseReason): void {
    if (closedReason !== undefined) return;
    closedReason = reason;
    clearTimeout(timer);
    // What was sent last (a refusal, a goodbye) must leave before the connection goes: the
    // channel's close (an SCTP stream reset) queues behind it, and the connection is closed
    // once the channel reports closed, or after 1 s.
    const dc = entry.dc;
    const teardown = (): void => {
      clearTimeout(grace);
      try {
        pc.close();
      } catch {
        // already closed by the other side
      }
      release(entry);
    };
    const grace = setTimeout(teardown, dc?.isOpen() ? 1000 : 0);
    grace.unref();
    closedHook = teardown;
    try {
      dc?.close();
    } catch {
      teardown();
    }
    if (!opened) settle.reject(new SdError(codeOf(reason.code, 'E_WEBRTC'), reason.message));
    else closeCb(reason);
  }

  const t: MessageTransport = {
    kind: 'webrtc',
    get maxMessageSize() {
      return maxMessageSize;
    },
    remoteAddress: opts.remoteAddress ?? 'webrtc',
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
    onDrain: (low, cb) => {
      lowWater = low;
      drainCb = cb;
      entry.dc?.setBufferedAmountLowThreshold(low);
    },
    bufferedAmount: () => (entry.dc && closedReason === undefined ? entry.dc.bufferedAmount() : 0),
    close: (reason = { code: 'E_LINK_CLOSED', message: 'closed' }) => finish(reason),
    route: () => {
      if (closedReason !== undefined) return null;
      try {
        const p = pc.getSelectedCandidatePair();
        if (!p) return null;
        // A check that arrived before the candidate it came from was signalled makes a prflx
        // candidate of what is a host one (or a relay one: the far side's TURN allocation).
        const signalled =
          p.remote.type === 'prflx' ? remoteTypes.get(`${p.remote.address}:${p.remote.port}`) : undefined;
        return { local: p.local.type, remote: signalled ?? p.remote.type };
      } catch {
        return null;
      }
    },
  };

  function attach(dc: DataChannel): void {
    entry.dc = dc;
    dc.setBufferedAmountLowThreshold(lowWater);
    dc.onBufferedAmountLow(() => closedReason === undefined && drainCb());
    dc.onMessage((m) => {
      if (closedReason !== undefined) return;
      if (typeof m === 'string') return finish({ code: 'E_BAD_FRAME', message: 'the peer sent a text message' });
      const u = m instanceof ArrayBuffer ? new Uint8Array(m) : new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
      if (msgCb) msgCb(u);
      else inbox.push(u);
    });
    dc.onClosed(() => {
      finish({ code: 'E_LINK_CUT', message: 'the data channel closed' });
      closedHook?.();
    });
    dc.onError((e) => finish({ code: 'E_LINK_CUT', message: `data channel error: ${e}` }));
    const open = (): void => {
      if (opened || closedReason !== undefined) return;
      opened = true;
      const theirs = dc.maxMessageSize();
      if (theirs > 0) maxMessageSize = Math.min(MAX_MESSAGE, theirs);
      clearTimeout(timer);
      settle.resolve(t);
    };
    dc.onOpen(open);
    if (dc.isOpen()) open();
  }

  function addCandidate(c: { candidate: string; mid: string }): void {
    const m = / (\S+) (\d+) typ (host|srflx|relay)/.exec(c.candidate);
    if (m) remoteTypes.set(`${m[1]}:${m[2]}`, m[3]!);
    try {
      pc.addRemoteCandidate(c.candidate, c.mid);
    } catch {
      // see receive()
    }
  }

  pc.onLocalDescription((sdp, descType) => opts.signal({ type: 'description', sdp, descType }));
  pc.onLocalCandidate((candidate, mid) => opts.signal({ type: 'candidate', candidate, mid }));
  pc.onStateChange(
    (s) => (s === 'failed' || s === 'closed') && finish({ code: 'E_LINK_CUT', message: `the peer connection ${s}` }),
  );
  if (opts.role === 'offerer') attach(pc.createDataChannel('vdfs', {}));
  else pc.onDataChannel((dc) => (entry.dc ? dc.close() : attach(dc)));

  return {
    transport,
    close: () => finish({ code: 'E_LINK_CLOSED', message: 'closed' }),
    receive(s) {
      if (closedReason !== undefined) return;
      if (s.type === 'candidate') {
        if (!haveRemote) return void early.push(s);
        // A candidate the connection cannot take (it is failing, or the candidate is unusable) is
        // not fatal by itself: the state change or the open deadline says how it ends.
        return void addCandidate(s);
      }
      try {
        pc.setRemoteDescription(s.sdp, s.descType);
      } catch (e) {
        return finish({ code: 'E_WEBRTC', message: `bad description: ${(e as Error).message}` });
      }
      haveRemote = true;
      for (const m of s.sdp.matchAll(/^a=candidate:.* (\S+) (\d+) typ (host|srflx|relay)/gm))
        remoteTypes.set(`${m[1]}:${m[2]}`, m[3]!);
      for (const c of early.splice(0)) addCandidate(c);
    },
  };
}
