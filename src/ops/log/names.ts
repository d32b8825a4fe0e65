// What things were called, from the log itself: `sd log` says "renamed tag "trip" → "holiday""
// and "note on beach.jpg" instead of ids, also for things renamed or deleted since. The names
// come from the few event types that give one; each connection's book reads only the events it
// has not seen yet (by device and seq), so a live stream of events stays cheap.
import { decodeEvent } from '../../events/codec.js';
import type { Db } from '../../library/library.js';

export type NameKind = 'library' | 'device' | 'location' | 'tag' | 'collection';

/** Where an event sits in the log's one order (the order of `sd log`). */
export interface LogPos {
  ms: number;
  c: number;
  dev: string;
}

interface Named extends LogPos {
  name: string;
}

export interface NameBook {
  /** The name `id` had just before the event at `pos`: the last one given to it earlier. */
  before(kind: NameKind, id: string, pos: LogPos): string | undefined;
  /** The latest name known for `id` (also after it was deleted). */
  latest(kind: NameKind, id: string): string | undefined;
  /** A file name that carries this content (this device's first, then any). */
  file(cid: string): string | undefined;
}

const NAMING = [
  'library.created',
  'library.renamed',
  'device.added',
  'device.renamed',
  'location.added',
  'shared.changed',
];

const earlier = (a: LogPos, b: LogPos): boolean =>
  a.ms < b.ms || (a.ms === b.ms && (a.c < b.c || (a.c === b.c && a.dev < b.dev)));

interface Book {
  seen: Map<string, number>;
  names: Map<string, Named[]>;
}
const books = new WeakMap<Db, Book>();

function record(book: Book, kind: NameKind, id: unknown, name: unknown, pos: LogPos): void {
  if (typeof id !== 'string' || typeof name !== 'string') return;
  const key = `${kind}:${id}`;
  const list = book.names.get(key) ?? book.names.set(key, []).get(key)!;
  list.push({ ...pos, name });
  list.sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
}

function learn(book: Book, type: string, dev: string, pos: LogPos, body: Record<string, unknown>): void {
  switch (type) {
    case 'library.created': {
      record(book, 'library', 'self', body.name, pos); // a library database holds one library
      const creator = body.creator as { dev?: unknown; name?: unknown } | undefined;
      record(book, 'device', creator?.dev, creator?.name, pos);
      return;
    }
    case 'library.renamed':
      return record(book, 'library', 'self', body.name, pos);
    case 'device.added':
      return record(book, 'device', body.dev, body.name, pos);
    case 'device.renamed':
      return record(book, 'device', dev, body.name, pos);
    case 'location.added':
      return record(book, 'location', body.id, body.name, pos);
    case 'shared.changed': {
      // A rename of every tag of one name carries the other ids in `also`.
      const also = typeof body.also === 'string' && body.also ? body.also.split(',') : [];
      if (body.op === 'tag.create' || body.op === 'tag.rename')
        for (const id of [body.tag, ...also]) record(book, 'tag', id, body.name, pos);
      if (body.op === 'collection.create' || body.op === 'collection.rename')
        for (const id of [body.collection, ...also]) record(book, 'collection', id, body.name, pos);
      return;
    }
  }
}

/** Reads the naming events this connection has not seen yet. */
function refresh(db: Db): Book {
  const book = books.get(db) ?? { seen: new Map(), names: new Map() };
  books.set(db, book);
  const heads = db.prepare('SELECT dev, MAX(seq) AS seq FROM events GROUP BY dev').all() as {
    dev: string;
    seq: number;
  }[];
  const newer = db.prepare(
    `SELECT dev, seq, hlc_ms, hlc_c, type, bytes FROM events WHERE dev = ? AND seq > ? AND type IN (${NAMING.map(() => '?').join(', ')})`,
  );
  for (const h of heads) {
    const from = book.seen.get(h.dev) ?? 0;
    if (h.seq <= from) continue;
    for (const r of newer.all(h.dev, from, ...NAMING) as {
      dev: string;
      hlc_ms: number;
      hlc_c: number;
      type: string;
      bytes: Buffer;
    }[]) {
      try {
        const body = decodeEvent(r.bytes).body;
        if (body && typeof body === 'object')
          learn(book, r.type, r.dev, { ms: r.hlc_ms, c: r.hlc_c, dev: r.dev }, body as Record<string, unknown>);
      } catch {
        // A mangled event names nothing; `sd log verify` reports it.
      }
    }
    book.seen.set(h.dev, h.seq);
  }
  return book;
}

export function nameBook(db: Db, self?: string): NameBook {
  let book: Book | undefined;
  const get = (): Book => (book ??= refresh(db));
  const lib = (kind: NameKind, id: string): string => (kind === 'library' ? 'self' : id);
  return {
    before: (kind, id, pos) => {
      const list = get().names.get(`${kind}:${lib(kind, id)}`) ?? [];
      let name: string | undefined;
      for (const n of list) if (earlier(n, pos)) name = n.name;
      return name;
    },
    latest: (kind, id) =>
      get()
        .names.get(`${kind}:${lib(kind, id)}`)
        ?.at(-1)?.name,
    file: (cid) =>
      (
        db
          .prepare(
            'SELECT e.name FROM entries e JOIN locations l ON l.id = e.loc WHERE e.cid = ? ORDER BY l.dev = ? DESC LIMIT 1',
          )
          .get(cid, self ?? '') as { name: string } | undefined
      )?.name,
  };
}
