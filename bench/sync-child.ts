// One vdfs device of bench/syncthing.ts in its own process, as Syncthing's two devices are: a real
// Core on 127.0.0.1, driven by one JSON request per line on stdin, one JSON answer per line on
// stdout. It counts the bytes it writes to TCP sockets (its side of the link).
import { Socket } from 'node:net';
import { Core } from '../src/core.js';
import { serveLines } from './child-rpc.js';

process.env.SD_MDNS = 'off';
process.env.SD_P2P_HOST = '127.0.0.1';

let wireBytes = 0;
const socketWrite = Socket.prototype.write as (this: Socket, ...args: unknown[]) => boolean;
Socket.prototype.write = function (this: Socket, ...args: unknown[]): boolean {
  const chunk = args[0];
  wireBytes +=
    typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0;
  return socketWrite.apply(this, args);
} as typeof Socket.prototype.write;

let core: Core | undefined;
let libId: string | undefined;
type Req = { op: string } & Record<string, unknown>;

const lib = () => core!.libraries.resolve(libId);
const heads = (): string => {
  try {
    return JSON.stringify([...lib().log.heads()].sort());
  } catch {
    return ''; // the joined library is not here yet
  }
};

async function handle(r: Req): Promise<unknown> {
  switch (r.op) {
    case 'open':
      core = await Core.open(String(r.dir));
      await core.startPeers('127.0.0.1', 0);
      libId = core.libraries.resolve().id;
      return { id: core.device.id };
    case 'invite':
      return { code: (await core!.command<{ code: string }>('pair.invite', {})).result!.code };
    case 'join':
      // The library joined is the one to watch from now on.
      libId = (await core!.command<{ library: string }>('pair.join', { code: String(r.code) })).result!.library;
      return {};
    case 'index': {
      const added = await core!.command<{ job: string }>('location.add', { path: String(r.root), watch: false });
      for (let i = 0; i < 120_000; i++) {
        const j = await core!.query<{ state: string }>('job.info', { ref: added.result!.job });
        if (['completed', 'failed', 'cancelled'].includes(j.state)) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      lib().flush();
      // The names the job left for the search index are indexed now, as the job's own last step
      // would be on an idle daemon: otherwise A indexes them inside the exchange's window.
      lib().flushSearchIndex();
      return { heads: heads() };
    }
    case 'heads':
      return { heads: heads() };
    case 'counts': {
      const db = lib().db;
      const n = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
      return { entries: n('SELECT COUNT(*) AS n FROM entries'), events: n('SELECT COUNT(*) AS n FROM events') };
    }
    case 'mark':
      // For a profile: where the window starts, on the clock of --cpu-prof (microseconds).
      return { us: String(process.hrtime.bigint() / 1000n) };
    case 'wire': {
      const bytes = wireBytes;
      if (r.reset) wireBytes = 0;
      return { bytes, cpuMs: process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000 };
    }
    case 'partition':
      core!.peers!.partition();
      return {};
    case 'heal':
      core!.peers!.heal();
      return {};
    case 'close':
      await core?.close();
      core = undefined;
      return {};
    default:
      throw new Error(`unknown op ${r.op}`);
  }
}

// Polls are answered at once, also while a join or an index is under way.
serveLines(
  handle,
  async () => core?.close(),
  (op) => op === 'heads' || op === 'wire',
);
