// One-line, human summaries of events for `sd log` and `sd events`: they name what changed
// ("renamed tag "trip" → "holiday"", "note on beach.jpg"), from the log's own names.
import type { LogPos, NameBook, NameKind } from './names.js';

type Body = Record<string, unknown>;
interface Ctx {
  names?: NameBook;
  pos?: LogPos;
  dev?: string;
}
type Summarizer = (body: any, ctx: Ctx) => string;

const id8 = (v: unknown): string => String(v).slice(0, 8);
const q = (s: string): string => `"${s}"`;

/** `"name"` when the log knows it, else the short id. */
function named(ctx: Ctx, kind: NameKind, id: unknown, when: 'before' | 'latest' = 'latest'): string {
  const key = String(id);
  const n = when === 'before' && ctx.pos ? ctx.names?.before(kind, key, ctx.pos) : ctx.names?.latest(kind, key);
  return n !== undefined ? q(n) : id8(key);
}

function renamed(what: string, ctx: Ctx, kind: NameKind, id: unknown, to: unknown): string {
  const from = ctx.pos && id !== undefined ? ctx.names?.before(kind, String(id), ctx.pos) : undefined;
  return from !== undefined && from !== to
    ? `renamed ${what} ${q(from)} → ${q(String(to))}`
    : `renamed ${what} to ${q(String(to))}`;
}

const summaries: Record<string, Summarizer> = {
  'library.created': (b) => `created library ${q(b.name)}`,
  'library.renamed': (b, ctx) => renamed('library', ctx, 'library', 'self', b.name),
  'device.renamed': (b, ctx) => renamed('device', ctx, 'device', ctx.dev, b.name),
  'device.added': (b) => `added device ${q(b.name)} (${id8(b.dev)})`,
  'device.revoked': (b, ctx) => `revoked device ${named(ctx, 'device', b.dev)}`,
  'location.added': (b) => `added location ${q(b.name)} at ${b.path}`,
  'location.removed': (b, ctx) => `removed location ${named(ctx, 'location', b.id)} from the index`,
  'location.indexed': (b, ctx) =>
    `indexed location ${named(ctx, 'location', b.id)}: ${b.files} files, ${b.dirs} folders`,
  'entries.upserted': (b) => `indexed ${b.e.length} new or changed entries`,
  'entries.deleted': (b) => `removed ${b.keys.length} entries that are gone`,
  'entries.moved': (b) => `detected ${b.moves.length} moved or renamed entries`,
  'entries.identified': (b) => `identified the content of ${b.ids.length} files`,
  'entries.aggregated': (b) => `updated sizes of ${b.dirs.length} folders`,
  'shared.created': () => 'created the shared metadata documents',
  'shared.changed': (b, ctx) => sharedSummary(b, ctx),
  'command.verified': (b) =>
    `verify of ${b.command}: ${
      b.ok
        ? 'passed'
        : `FAILED (${b.checks
            .filter((c: { ok: boolean }) => !c.ok)
            .map((c: { what: string }) => c.what)
            .join(', ')})`
    }`,
};

export function registerSummary(type: string, fn: (body: any) => string): void {
  summaries[type] = fn;
}

/** The summary of one event; with a name book and the event's place, things are named. */
export function summarize(type: string, body: unknown, ctx: Ctx = {}): string {
  const fn = summaries[type];
  if (!fn) return type;
  try {
    return fn(body, ctx);
  } catch {
    return type;
  }
}

function sharedSummary(b: Body, ctx: Ctx): string {
  const tag = (): string => named(ctx, 'tag', b.tag, 'before');
  const coll = (): string => named(ctx, 'collection', b.collection, 'before');
  const items = `${b.count} content item(s)`;
  switch (b.op) {
    case 'tag.create':
      return `created tag ${q(String(b.name))}`;
    case 'tag.rename':
      return renamed('tag', ctx, 'tag', b.tag, b.name);
    case 'tag.delete':
      return `deleted tag ${tag()}`;
    case 'tag.apply':
      return `tagged ${items} with ${tag()}`;
    case 'tag.remove':
      return `untagged ${items} from ${tag()}`;
    case 'collection.create':
      return `created collection ${q(String(b.name))}`;
    case 'collection.rename':
      return renamed('collection', ctx, 'collection', b.collection, b.name);
    case 'collection.add':
      return `added ${items} to collection ${coll()}`;
    case 'collection.remove':
      return `removed ${items} from collection ${coll()}`;
    case 'collection.delete':
      return `deleted collection ${coll()}`;
    case 'note.set': {
      const file = typeof b.cid === 'string' ? ctx.names?.file(b.cid) : undefined;
      return file !== undefined ? `note on ${file}` : `note on content ${id8(b.cid)}`;
    }
    case 'fav.add':
      return `favourited ${items}`;
    case 'fav.remove':
      return `unfavourited ${items}`;
    default:
      return `shared metadata: ${String(b.op)}`;
  }
}
