// The thread that copies a library's write-ahead log back into its database (see checkpoint.ts).
// It holds one connection per library it was asked about and runs passive checkpoints there: a
// passive checkpoint never waits for a lock and never blocks the writer, which keeps appending to
// the log while the frames before it are copied.
import Database from 'better-sqlite3-multiple-ciphers';
import { parentPort } from 'node:worker_threads';
import { applyKey } from './cipher.js';

export type CheckpointJob = { op: 'checkpoint'; path: string; key?: string } | { op: 'forget'; path: string };

export interface CheckpointAnswer {
  path: string;
  op: CheckpointJob['op'];
  /** Frames in the log and frames copied back, as `PRAGMA wal_checkpoint` reports them. */
  log?: number;
  checkpointed?: number;
  error?: string;
}

const open = new Map<string, Database.Database>();

function connection(path: string, key: string | undefined): Database.Database {
  let db = open.get(path);
  if (!db) {
    db = new Database(path, { fileMustExist: true });
    try {
      if (key) applyKey(db, key);
      // As the writing connection: the log is synced before frames are copied, the file after.
      db.pragma('synchronous = NORMAL');
    } catch (e) {
      db.close(); // not kept: a forget could not close it, and it would hold a deleted library's file
      throw e;
    }
    open.set(path, db);
  }
  return db;
}

parentPort!.on('message', (job: CheckpointJob) => {
  const answer: CheckpointAnswer = { path: job.path, op: job.op };
  try {
    if (job.op === 'forget') {
      open.get(job.path)?.close();
      open.delete(job.path);
    } else {
      const [r] = connection(job.path, job.key).pragma('wal_checkpoint(PASSIVE)') as {
        log: number;
        checkpointed: number;
      }[];
      answer.log = r?.log;
      answer.checkpointed = r?.checkpointed;
    }
  } catch (e) {
    // A full disk or a file gone: the writing connection's own checkpoints still bound the log.
    answer.error = (e as Error).message;
  }
  parentPort!.postMessage(answer);
});
