// A TCP proxy on 127.0.0.1 that a test puts between two daemons: it records every byte in both
// directions, and on request flips a byte in, drops, or replays the next binary WebSocket frame
// that the upstream (listening) side sends. Frames are found by parsing WebSocket framing
// (RFC 6455) after the HTTP upgrade; everything else passes through untouched.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyFault = 'flip' | 'drop' | 'replay';

export interface TcpProxy {
  port: number;
  /** Everything that crossed, both directions, in arrival order. */
  readonly captured: Buffer[];
  /** Connections made through the proxy so far. */
  readonly connections: number;
  /** The next binary frame from upstream gets this fault; resolves once it was applied. */
  arm(fault: ProxyFault): Promise<void>;
  close(): Promise<void>;
}

/** Splits the downstream-bound stream into the HTTP head and WebSocket frames. */
class FrameCutter {
  private buf = Buffer.alloc(0);
  private headDone = false;

  /** Complete units (the HTTP head, then one frame each) with their opcode (-1 for the head). */
  push(chunk: Buffer): { opcode: number; bytes: Buffer; headerLength: number }[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: { opcode: number; bytes: Buffer; headerLength: number }[] = [];
    for (;;) {
      if (!this.headDone) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return out;
        out.push({ opcode: -1, bytes: this.buf.subarray(0, end + 4), headerLength: end + 4 });
        this.buf = this.buf.subarray(end + 4);
        this.headDone = true;
        continue;
      }
      if (this.buf.length < 2) return out;
      const masked = (this.buf[1]! & 0x80) !== 0;
      let len = this.buf[1]! & 0x7f;
      let header = 2;
      if (len === 126) {
        if (this.buf.length < 4) return out;
        len = this.buf.readUInt16BE(2);
        header = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return out;
        len = Number(this.buf.readBigUInt64BE(2));
        header = 10;
      }
      if (masked) header += 4;
      if (this.buf.length < header + len) return out;
      out.push({ opcode: this.buf[0]! & 0x0f, bytes: this.buf.subarray(0, header + len), headerLength: header });
      this.buf = this.buf.subarray(header + len);
    }
  }
}

export async function startProxy(upstreamPort: number): Promise<TcpProxy> {
  const captured: Buffer[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const armed: { fault: ProxyFault; done: () => void }[] = [];
  const server: Server = createServer((down) => {
    connections++;
    const up = connect(upstreamPort, '127.0.0.1');
    sockets.add(down).add(up);
    const cutter = new FrameCutter();
    for (const s of [down, up]) {
      s.on('error', () => undefined);
      s.once('close', () => (down.destroy(), up.destroy(), sockets.delete(s)));
    }
    down.on('data', (d: Buffer) => {
      captured.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      captured.push(Buffer.from(d));
      for (const unit of cutter.push(d)) {
        const a = unit.opcode === 2 ? armed.shift() : undefined;
        if (!a) {
          down.write(unit.bytes);
          continue;
        }
        if (a.fault === 'flip') {
          const copy = Buffer.from(unit.bytes);
          copy[copy.length - 1]! ^= 0x01; // the last byte of the record: its authentication tag
          down.write(copy);
        } else if (a.fault === 'replay') down.write(Buffer.concat([unit.bytes, unit.bytes]));
        a.done();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    captured,
    get connections() {
      return connections;
    },
    arm: (fault) => new Promise((done) => armed.push({ fault, done })),
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
